// Package job runs the store writes of one job — a migration, a rotation, a cut-over — the way
// every secretshift command that changes a store must:
//
//   - fail closed: the intent of every write is durable in the audit log before the store is
//     touched, the outcome is durable before the item is reported done, and a failure to write
//     the log stops the job (Pipeline);
//   - with bounded concurrency and a client-side rate limit (Each);
//   - resumable: a journal per job records, without values, which items were written and
//     verified, so that the same command run again after a crash finishes the job without
//     duplicate writes (Journal);
//   - with one vocabulary of error classes for reports and audit records (Class).
//
// It knows stores only through the providers contract and the audit log only through the
// Recorder interfaces, so migrate, rotate and cutover share it without copying it.
package job
