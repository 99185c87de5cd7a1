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
//	time          RFC 3339 UTC with nine fractional digits
//	run_id        one command run (correlation id)
//	event_id      random UUID of this record
//	seq           1, 2, 3 … within the file
//	action        lowercase words joined by dots: plan.create, migrate.write, migrate.verify,
//	              migrate.conflict, migrate.skip, verify.check (the verify command), rotate.*,
//	              audit.keygen, audit.checkpoint, audit.rotate, audit.recover
//	outcome       success | failure | skipped, or attempt: the intent, recorded before the action
//	error_class   short machine-readable class of a failure (caller-supplied, value-free)
//	error         error text (caller-supplied, value-free)
//	actor         os_user, host, kube_user, vault_display_name, vault_accessor (never a token),
//	              ci {provider, actor, repository, run_id, job_id, url} from the CI environment
//	source        cluster (API server URL), namespace, name, uid, origin of the Secret
//	target        provider, address, version
//	keys          key names. Like Vault, names are metadata and logged in clear; values never are
//	fingerprints  key name → "hmac-sha256:<hex>", HMAC-SHA256 of the value under the audit HMAC key
//	details       further value-free strings
//	checkpoint    only on audit.checkpoint records (below)
//	prev          hash of the previous record, GenesisHash for the first record of a new log
//	hash          hash of this record
//
// Secret values never enter a record: Event has no []byte field, fingerprints must have the
// HMAC form, and Record refuses text that is plainly not value-free (PEM blocks, invalid UTF-8,
// NUL bytes, over-long strings). Beyond that the caller's contract applies (see Event).
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
// public key, and signature = base64 Ed25519 over
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
// before making the change it could not record. Open also refuses a log whose last record does not
// match its hash or that is shorter than its head file. A log that ends in part of a line after
// its last sealed checkpoint — a writer died in the middle of a write — is repaired: the part is
// cut off and an audit.recover record gives its length and SHA-256 (never its bytes).
//
// # Files, keys and rotation
//
// Defaults: log .secretshift/audit/audit.jsonl (directory 0700, file 0600), keys in
// .secretshift/keys/: hmac.key (64 hex digits), audit-signing.key (PEM PKCS #8 Ed25519,
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
// (VerifyLink). Pointing --audit-log at a different path simply starts an independent chain.
//
// # Export formats
//
// jsonl: the selected lines, byte for byte (an unfiltered export still verifies).
//
// csv: header row CSVHeader; nested actor/source/target fields flattened into columns; keys,
// fingerprints, details and checkpoint as JSON in one cell; cells starting with = + - @ tab CR
// or ' get a leading ' against spreadsheet formula injection (strip one leading ' to read back).
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
//	actor          app_name "secretshift", user.name = CI actor, else kube_user, else
//	               vault_display_name, else os_user
//	api            operation = action, service.name = target provider, request.uid = event_id
//	src_endpoint   name "secretshift", hostname = actor host
//	resources      {name ns/name, uid, type "kubernetes/Secret"}, {name address, type provider, data.version}
//	unmapped       actor, source, target, keys, fingerprints, details, checkpoint, prev, hash
//
// cef: "CEF:0|secretshift|secretshift|<version>|<action>|<action> <outcome> [ns/name]|<severity>|<ext>",
// severity 3, 7 for failures, 1 for checkpoints. Extension: rt (ms), externalId = event_id, act =
// action, outcome, cs1 run_id, cn1 seq, suser (as OCSF actor.user), shost, reason = error_class,
// msg = error, cs2 source ns/name, cs6 source uid, cs3 target "provider:address[@version]", cs4
// key names (sorted, comma-separated), cs5 record hash; each csN/cnN with its csNLabel. Header
// fields escape '\' and '|' (line breaks become spaces); extension values escape '\', '=' and
// line breaks (\n, \r). Fingerprints and details are not in CEF; use ocsf or jsonl for them.
package audit
