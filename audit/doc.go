// Package audit keeps secretshift's tamper-evident audit log: an append-only JSON Lines file in
// which every record is hash-chained to the one before it and signed checkpoints seal the chain,
// modelled on Vault audit devices (values only as keyed HMAC; fail closed) and CloudTrail log
// file integrity validation (hash chain plus signatures). It also verifies logs, exports them for
// SIEMs, and makes keyed fingerprints of values.
//
// # Records
//
// One JSON object per line (RFC 8259, UTF-8, "\n" terminated):
//
//	time            RFC 3339 UTC with nine fractional digits
//	format_version  the record format (below): 2; absent in format 1 and on checkpoint records
//	run_id          one command run (correlation id)
//	event_id        random UUID of this record
//	seq             1, 2, 3 … within the file
//	action          lowercase words joined by dots: plan.create, migrate.write, migrate.verify,
//	                migrate.conflict, migrate.skip, verify.check (the verify command), rotate.*,
//	                audit.keygen, audit.checkpoint, audit.rotate, audit.recover (constants Action*)
//	outcome         success | failure | skipped, or attempt: the intent, recorded before the action
//	error_class     short machine-readable class of a failure (caller-supplied, value-free)
//	error           error text (caller-supplied, value-free)
//	actor           os_user, host, kube_user;
//	                stores {<store kind>: {<attribute>: <value>}}: who each secret store knows the
//	                run as, by the provider name targets carry — vault {display_name, accessor},
//	                azurekv {object_id, tenant_id, display_name}, a store that authenticates with
//	                Kubernetes {username}; identifiers only, never a token;
//	                ci {provider, actor, repository, run_id, job_id, url} from the CI environment
//	source          cluster (API server URL), namespace, name, uid, origin of the Secret
//	target          provider, address, version
//	keys            key names. Like Vault, names are metadata and logged in clear; values never are
//	fingerprints    key name → "hmac-sha256:<hex>", HMAC-SHA256 of the value under the audit HMAC key
//	details         further value-free strings
//	checkpoint      only on audit.checkpoint records (below)
//	prev            hash of the previous record, GenesisHash for the first record of a new log
//	hash            hash of this record
//
// Secret values never enter a record: Event has no []byte field, fingerprints must have the
// HMAC form, and Record refuses text that is plainly not value-free (PEM blocks, invalid UTF-8,
// NUL bytes, over-long strings); Open refuses store identities whose names are not lowercase
// identifiers or whose values are not such text. Beyond that the caller's contract applies (see
// Event).
//
// The log and the head file name their members in snake_case. VerifyReport, Finding, SetReport,
// FileReport, Rotation and KeyFiles are command output, not file content, and use the camelCase
// of the commands' -o json, with initialisms in capitals (publicKeyID).
//
// # Record formats
//
// Each record names its format in format_version; records without it are format 1. A file may
// hold records of several formats (a newer writer continues an older log), and every later
// version of this package verifies and reads records of every earlier format; records of a
// format newer than the reader's are refused as malformed rather than misread. The hash is
// computed the same way in every format. Fixtures of every format are in testdata/format-v*.
//
//	1  the first format: the actor's Vault identity in actor.vault_display_name and
//	   actor.vault_accessor; no format_version member. Readers of today's Record find it in
//	   Actor.Stores["vault"] as {display_name, accessor}.
//	2  actor.stores holds the identities of any secret store; records other than checkpoints
//	   carry format_version 2. Checkpoint records and the head file are unchanged.
//
// # Hash
//
// hash = "sha256:" + lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the record
// object with its "hash" member removed. Records contain only strings, safe integers (< 2^53),
// booleans, objects and arrays, so JCS reduces to: object members sorted by the UTF-16 code
// units of their names, no whitespace, integers in plain decimal, strings escaping only '"', '\'
// and U+0000–U+001F (\b \f \n \r \t, else \u00xx). The hash covers the JSON value as parsed, so
// members the writer did not know are covered too, and a line re-encoded without changing any
// value (other whitespace, other escapes) still verifies: what is protected is the content. Verify refuses lines with duplicate member
// names, non-integer numbers or invalid UTF-8, so two parsers cannot read different records
// from the same bytes. To check one line by hand (jq's sorted compact output equals JCS unless
// text holds control characters, U+007F or characters outside the Basic Multilingual Plane):
//
//	jq -jcS 'del(.hash)' line.json | sha256sum
//
// # Checkpoints and the head file
//
// Every Options.CheckpointEvery records (default 1,000) and at Close, the writer appends a record
// with action audit.checkpoint whose "checkpoint" member is shown below. Every run that recorded
// something ends with a checkpoint carrying its own run_id, even when another run's checkpoint
// came just before, so a run without a closing checkpoint is one that did not finish. The
// member is
//
//	{seq, count, head, run_id, event_id, time, key_id, fingerprint_key_id, signature}
//
// seq and head name the record just before it (count = records before it), run_id, event_id and
// time repeat the checkpoint record's own fields, key_id = "ed25519:" + hex SHA-256 of the raw
// public key (PublicKeyID; Checkpoint.PublicKeyID), fingerprint_key_id names the HMAC key
// (Fingerprinter.KeyID), and signature = base64 Ed25519 over
//
//	"secretshift-audit-checkpoint/v1\n" + JCS(checkpoint without "signature")
//
// A checkpoint record may hold no other members, so every byte of it is signed or derived. The
// latest checkpoint is also written, atomically, to "<log>.head".
//
// # What verification detects
//
// With the public key and the head file, Verify detects: any change to a record (its hash
// changes; if the attacker recomputes it, the next record's prev or the next checkpoint's
// signature no longer matches); deleted, inserted, duplicated and reordered records (seq and
// prev); removal of records from the end, including whole runs (the head file names a later
// checkpoint); forged checkpoints (signature); a log checked against the wrong key (key_id).
// Records after the last checkpoint are reported as an unsigned tail and fail verification by
// default: they come from a run that crashed before Close, and nothing protects them.
//
// Not detectable: changes made by someone holding the signing key (keep it away from the host
// that writes the log — e.g. only in CI secrets — where that matters); deletion or rollback of
// the log together with its head file to an earlier consistent state (ship the head file, or the
// exported log, to storage the writer cannot rewrite, as CloudTrail does with digest files);
// deletion or change of records in an unsigned tail; and the values themselves, which are never
// logged. Fingerprints can be tested against a known value only with the HMAC key (`secretshift
// audit fingerprint`, like Vault's sys/audit-hash).
//
// # Writing, locking and failure
//
// Record returns once its line is written and fsynced. Concurrent records are group-committed:
// whoever finds no commit under way writes every queued line with one write call and one
// fsync. RecordAsync queues a record without waiting and calls back once it is durable (the
// engine uses it for outcomes, and reports an item done only then; intents, which must precede
// the change, use Record or RecordBatch); queued records are committed with the next Record,
// at AsyncBatch records, after AsyncDelay, or by Flush and Close. Appends take an
// exclusive flock on "<log>.lock" and re-read the chain head from the file, so several processes
// can append to one log and leave one valid chain. Any failure to lock, write or sync returns an
// error wrapping ErrUnavailable and makes the Log unusable (fail-closed): the caller must stop
// before making the change it could not record. A log that ends in part of a line after its last
// sealed checkpoint — a writer died in the middle of a write — is repaired: the part is cut off
// and an audit.recover record gives its length and SHA-256 (never its bytes).
//
// # Appending to a log that does not verify
//
// Open checks, cheaply, what it is about to extend (Log.Integrity): the head file's signature;
// every record from the head file's checkpoint (without a head file, from the last checkpoint)
// to the end — its hash, its seq and its link to the record before it; the signatures of the
// checkpoints among them; and that the head file's checkpoint is the record at the seq it names.
// Records before that checkpoint are left to Verify, so a run does not read a large log whole.
// While appending, the writer checks the last record again whenever the file changed size.
//
// The rule: the writer refuses to append only where appending would itself break or hide
// evidence; elsewhere it appends and reports. It refuses (ErrTampered with ErrUnavailable) a log
// shorter than its head file says, including one that ends in part of a line the head file
// covers: new records would take the sequence numbers of the removed ones, and cutting the part
// off would destroy it. Every other contradiction — a record that does not match its hash, a
// broken link, a forged or edited checkpoint or head file, lines that are not records, records
// replaced after the head file's checkpoint — is reported by Integrity as an *IntegrityError
// wrapping ErrTampered, and the run goes on: the writer chains its records to the last record
// as written, leaves every byte in the file as it was found, and does not replace the head file,
// which is the evidence of how far the log reached (checkpoints are still appended). Verify
// therefore still reports the tampering afterwards; refusing instead would let anyone who can
// edit the log stop every audited run. Rotate starts a clean file.
//
// # Files, keys and rotation
//
// Defaults: log .secretshift/audit/audit.jsonl (directory 0700, file 0600), keys in
// .secretshift/keys/: hmac.key (64 hex digits; made by Keygen or CreateHMACKeyFile, the one
// creator of fingerprint key files), audit-signing.key (PEM PKCS #8 Ed25519,
// 0600) and audit-signing.pub (PEM PKIX, shareable). Keys can also come from the environment as
// file contents: SECRETSHIFT_AUDIT_HMAC_KEY, SECRETSHIFT_AUDIT_SIGNING_KEY,
// SECRETSHIFT_AUDIT_PUBLIC_KEY (precedence: explicit file, then environment, then default file).
//
// One log file uses one signing key and one fingerprint key: Open refuses others
// (ErrKeyMismatch). To start a new file (size, retention, new keys), use Rotate (or `secretshift
// audit rotate`): it seals the file (with its own keys only, if the last run did not finish),
// moves it and its head file aside, and starts a new file whose first record, audit.rotate, has
// prev = the old file's last hash and names the old file (details previous_log, previous_head,
// previous_seq, and previous_key_id when the new file is signed by another key). Each file
// verifies alone with its own public key; verifying them in order also checks each link
// (VerifyLink). VerifySet does both for a set of files, each checked with the key that signed
// it, and ExportFiles exports such a set as one log. Pointing --audit-log at a different path
// simply starts an independent chain.
//
// # Sharded runs
//
// A command run as N processes (shards, `--shard I/N`) writes one log per shard, each its own
// chain. The run of a shard names it on its plan.create record: details shard ("I/N") and
// shard_set, an id of the parameters every shard of the job shares (DetailShard,
// DetailShardSet). VerifyLogs verifies a set of independent logs, each alone, and, when any
// holds a shard's run, checks that the set is one sharded job's, whole and consistent: each log
// holds runs of one shard only, all name the same shard_set and N, every shard 0 … N-1 is in
// exactly one log, and no Secret was written (migrate.write success, or a migrate.verify that
// records the write of an earlier run) by the runs of two shards. ExportMerged exports such a
// set as one stream in time order; it is not one chain and does not verify as one.
//
// # Export formats
//
// jsonl: the selected lines, byte for byte (an unfiltered export still verifies).
//
// csv: header row CSVHeader; nested actor/source/target fields flattened into columns
// (format_version empty for format 1); actor stores, keys, fingerprints, details and checkpoint
// as JSON in one cell each; cells starting with = + - @ tab CR or ' get a leading ' against
// spreadsheet formula injection (strip one leading ' to read back).
//
// ocsf: one JSON object per line, OCSF 1.3.0 class API Activity (class_uid 6003, category_uid 6):
//
//	activity_id    1 Create (…create/write/put/keygen/generate/seal/encrypt), 2 Read
//	               (…read/get/list/verify/check/discover/fetch), 3 Update (…update/set/rotate/promote/
//	               stage/finish/annotate/adopt/rollback/cutover), 4 Delete (…delete/destroy/purge/
//	               prune), 99 Other; by the last word of the action. type_uid = 600300 + activity_id
//	time           record time in ms since the epoch; metadata.original_time the RFC 3339 text
//	status_id      1 Success, 2 Failure, 99 Other with status "Attempt" (an intent) or "Skipped";
//	               status_code = error_class,
//	               status_detail = error
//	severity_id    1 Informational, 3 Medium for failures
//	metadata       version "1.3.0", product {name, vendor_name: "secretshift", version},
//	               uid = event_id, correlation_uid = run_id, sequence = seq, event_code = action
//	actor          app_name "secretshift", user.name = CI actor, else kube_user, else the
//	               display_name of the first store identity (by kind) that has one, else os_user
//	api            operation = action, service.name = target provider, request.uid = event_id
//	src_endpoint   name "secretshift", hostname = actor host
//	resources      {name ns/name, uid, type "kubernetes/Secret"}, {name address, type provider, data.version}
//	unmapped       actor (with its stores), source, target, keys, fingerprints, details,
//	               checkpoint, prev, hash
//
// cef: "CEF:0|secretshift|secretshift|<version>|<action>|<action> <outcome> [ns/name]|<severity>|<ext>",
// severity 3, 7 for failures, 1 for checkpoints. Extension: rt (ms), externalId = event_id, act =
// action, outcome, cs1 run_id, cn1 seq, suser (as OCSF actor.user), shost, reason = error_class,
// msg = error, cs2 source ns/name, cs6 source uid, cs3 target "provider:address[@version]", cs4
// key names (sorted, comma-separated), cs5 record hash; each csN/cnN with its csNLabel. Header
// fields escape '\' and '|' (line breaks become spaces); extension values escape '\', '=' and
// line breaks (\n, \r). Fingerprints, details and store identities (beyond suser) are not in
// CEF; use ocsf or jsonl for them.
package audit
