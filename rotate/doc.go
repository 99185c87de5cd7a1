// Package rotate gives stored Secrets new values in audited, staged steps, after AWS Secrets
// Manager's rotation: the new values are made (pending), put where they are used (the set
// hook), proven (the test hook), and only then written as the store's current version
// (promote, a check-and-set write read back). A failed set or test puts the previous values
// back where they are used and leaves the store unchanged.
//
// Where the pending values live: in memory, not in the store. A store's readers (ESO, the
// sealed-secrets controller, Flux) read its current version, and in Vault KV that is the
// latest one, so a pending version written there would reach workloads before its set hook
// ran. The store therefore changes exactly once per rotation, at promotion, and the previous
// values stay current until then. The cost: a run killed between the set hook and promotion
// loses the new values it had set; the store still holds the previous ones, and the next run
// (its journal says where the earlier one stopped) rotates again from the start, so set hooks
// must be able to run again (set the credential to whatever value they are given). A whole
// run killed part-way is resumed by the next run of the same job (the same entries in the
// same store): what the killed run rotated, by its journal or, where the crash lost the
// journal's last lines, by its audit records, is done and not rotated again. A run after
// which no entry failed ends the job in its journal, and the next run rotates anew. Stores
// that keep versions (Vault) keep the previous version readable after promotion, and Rollback
// makes it current again.
//
// Every step is an audit record with keyed fingerprints of the values (never the values):
// rotate.due, rotate.pending, rotate.set, rotate.test, rotate.promote, rotate.rollback. The
// value generators are in package generate, the policy file in package policy. The package
// uses the shared engine's journal and recorder (package job) and the provider contract; it
// imports no store.
package rotate
