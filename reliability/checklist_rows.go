package reliability

// Checklist maps each row of the bad-input and fault checklist (RELIABILITY.md §4) to the
// tests that show secretshift survives it. `make reliability` runs them and reports each row;
// TestChecklistNamesExist keeps the names honest. A Gap says what is not covered yet.
var Checklist = []ChecklistRow{
	{Number: 1, Fault: "binary / invalid UTF-8 values", Tests: []Test{
		{"./providers/vault", "TestWriteReadRoundTripIsByteExact", "bytes ff 00 fe 80 01, a trailing newline, an empty value and a dotfile key read back byte-exact"},
		{"./providers/azurekv", "TestWriteReadRoundTripIsByteExact", "the same sample byte-exact in both layouts (binary as base64 with its content type)"},
		{"./kube", "TestBytesPreserved", "NUL/0xff bytes, CRLF, trailing newlines, wrapped base64 and block-scalar chomping kept exactly"},
		{"./providers/sops", "TestSopsBinaryDecryptsOurFiles", "the real sops -d gives back a non-UTF-8 key byte for byte"},
	}},
	{Number: 2, Fault: "non-base64, null or placeholder data values", Tests: []Test{
		{"./kube", "TestBadInput", "data not base64, null, a number: a positioned problem naming the key, never the value; the next Secret still decodes"},
		{"./kube", "TestCorpusGolden", "real corpus files with null and not-base64 values match the golden report; no value in it"},
		{"./cmd/secretshift", "TestMigrateCorpusToVault", "each corpus file is migrated byte-exact or refused with exit 1 naming the file"},
	}},
	{Number: 3, Fault: "key names with dots, slashes, underscores", Tests: []Test{
		{"./kube", "TestBadInput", "a key bad/key is an invalid key name problem"},
		{"./providers/azurekv", "TestNames", "dots, underscores and dotfile keys map to legal Key Vault names"},
		{"./providers/azurekv", "TestPlanRejectsEveryCollisionAndInvalidName", "tls.crt and tls_crt, which map to one name, are refused"},
		{"./cmd/secretshift", "TestAzureKVMigrateCorpus", "corpus keys such as alertmanager.yaml migrate to their mapped names with the same bytes"},
	}},
	{Number: 4, Fault: "names too long for the store or a file", Tests: []Test{
		{"./providers/azurekv", "TestPlanRejectsEveryCollisionAndInvalidName", "a 134-character Key Vault name is refused naming the 127 limit"},
		{"./cmd/secretshift", "TestAzureKVPlanRejectsEveryOffenderAndWritesNothing", "plan fails with exit 1 and 0 writes"},
		{"./providers/sealed", "TestLongNamesOnlyInAStream", "a 253-character name fits a stream, not a file; 254 is refused"},
		{"./providers/sops", "TestTarget", "a 251-character name is refused, 250 fits"},
	}},
	{Number: 5, Fault: "large secrets (1 MiB Secret, 25 KB Key Vault value)", Tests: []Test{
		{"./kube", "TestBadInput", "a Secret over 1 MiB is a problem naming the key"},
		{"./providers/azurekv", "TestCheckLimits", "25 KB fits, 25 KB + 1 and binary grown by base64 are refused naming the key"},
		{"./providers/vault", "TestCheckRejectsOversizedEntry", "900 KiB binary (1.2 MiB as base64) is refused"},
		{"./providers/sealed", "TestCheck", "700 KiB fits under the SealedSecret limit; 900 KiB is refused"},
	}},
	{Number: 6, Fault: "duplicate names after mapping (case, separators)", Tests: []Test{
		{"./providers/azurekv", "TestPlanRejectsEveryCollisionAndInvalidName", "separator, case and dot/underscore collisions each named"},
		{"./cmd/secretshift", "TestAzureKVPlanRejectsEveryOffenderAndWritesNothing", "plan rejected with 5 problems, 0 writes"},
		{"./cmd/secretshift", "TestPlanRejectsCollisionsAndWritesNothing", "two Secrets mapped to one Vault path: plan rejected, 0 writes"},
		{"./kube", "TestDuplicateSecretIsAProblem", "a Secret defined twice is a problem naming the first place"},
	}},
	{Number: 7, Fault: "interruption mid-migration (kill, lost answer)", Tests: []Test{
		{"./cmd/secretshift", "TestKilledRunResumesWithoutDuplicateVersions", "SIGKILL mid-run, re-run: every entry at version 1, audit verify passes"},
		{"./cmd/secretshift", "TestAzureKVKilledRunResumesWithoutDuplicateVersions", "the same against the Key Vault test server, killed between keys"},
		{"./providers/azurekv", "TestInterruptedWriteIsFinishedWithoutDuplicates", "a write cut after 1 of 3 keys is finished with one version per key"},
		{"./migrate", "TestResumedRunRecordsWritesWhoseOutcomeWasLost", "a write whose answer was lost is recorded once, as done by the earlier run"},
	}},
	{Number: 8, Fault: "429 throttling", Tests: []Test{
		{"./providers/vault", "TestRetriesHonourRetryAfter", "two 429s with Retry-After, then success"},
		{"./providers/azurekv", "TestThrottlingIsRetriedThenReportedWithWhatWasDone", "retried after Retry-After; endless 429 stops naming what was written"},
		{"./providers/azurekv", "TestWritesStayUnderTheRateInAnyWindow", "a write rate keeps every window under the vault's limit"},
		{"./cmd/secretshift", "TestAzureKVThrottledRunStaysUnderTheRate", "the CLI run with injected 429s completes under the rate"},
	}},
	{Number: 9, Fault: "token expires mid-run", Tests: []Test{
		{"./cmd/secretshift", "TestVaultTokenExpiresMidRun", "Vault answers 403 halfway: exit 4 naming permission denied and what was done; the re-run completes at version 1"},
		{"./cmd/secretshift", "TestAzureFederatedTokenExpiresMidRun", "workload identity: the access token expires halfway and the federated token is stale: exit 4, each unwritten Secret says the token expired; with a fresh federated token the re-run completes, one version per secret"},
	}},
	{Number: 10, Fault: "soft-deleted Key Vault secret with the same name", Tests: []Test{
		{"./providers/azurekv", "TestSoftDeletedNameIsAConflictOrRecovered", "a conflict naming --azure-recover; with it, recovered and written; never purged"},
		{"./cmd/secretshift", "TestAzureKVSoftDeletedNameNeedsRecover", "the CLI: plan says so, migrate --azure-recover recovers"},
	}},
	{Number: 11, Fault: "Vault KV v1 mount where v2 is expected", Tests: []Test{
		{"./providers/vault", "TestOpenDetectsMounts", "a v1 mount is refused, an unknown mount and a bad token are permission errors"},
		{"./cmd/secretshift", "TestKVv1MountIsRefusedClearly", "exit 1 naming kv version 1 and the enable-versioning command"},
	}},
	{Number: 12, Fault: "SOPS file edited by hand or merged", Tests: []Test{
		{"./providers/sops", "TestHandEdited", "edits break the MAC and are reported, never overwritten silently"},
		{"./providers/sops", "TestCorpusFiles", "upstream vectors decrypt; tampered MAC or ciphertext is reported"},
		{"./migrate", "TestUnusableTargetIsAConflictUnlessOverwritten", "an unreadable target is a conflict unless --overwrite"},
		{"./providers/sops", "TestValueChangeKeepsRecipients", "recipients added by hand are handled; the error names --sops-update-keys"},
	}},
	{Number: 13, Fault: "Sealed Secrets certificate or key renewed", Tests: []Test{
		{"./providers/sealed", "TestRerunsAndForeignFiles", "a renewed key re-seals; an unchanged Secret under the same key is not"},
		{"./cmd/secretshift", "TestSealedMigrationEndToEnd", "a plan for an old certificate is refused; an expired certificate stops before writing"},
		{"./providers/sealed", "TestVerifyWithoutTheRightKey", "a private key that did not seal is a problem, not a pass"},
		{"./providers/sealed", "TestBadCertificates", "expired, not yet valid, non-RSA, malformed, missing, 404: clear errors, no output"},
	}},
	{Number: 14, Fault: "SealedSecret scope or name mismatch", Tests: []Test{
		{"./providers/sealed", "TestScopes", "strict, namespace-wide and cluster-wide unseal exactly where their scope allows"},
		{"./providers/sealed", "TestRerunsAndForeignFiles", "a file holding another SealedSecret is a problem; another scope re-seals"},
		{"./providers/sealed", "TestPin", "a saved plan pins key and scope"},
	}},
	{Number: 15, Fault: "concurrent runs", Tests: []Test{
		{"./providers/sops", "TestFolderLock", "a second run is refused naming the lock file and writes nothing"},
		{"./providers/sops", "TestConcurrentWrites", "racing creates: each file written once, the others conflict"},
		{"./cmd/secretshift", "TestRotateLeaseKeepsTwoRunsApart", "two rotations of one entry: one new version, the other reports the lease"},
		{"./rotate", "TestConcurrentChangeIsAConflict", "a value changed by another writer mid-rotation is not replaced"},
		{"./cmd/secretshift", "TestShardedMigrateToVault", "4 processes at once over 2,000 Secrets write each exactly once"},
	}},
	{Number: 16, Fault: "malformed manifests in discovery", Tests: []Test{
		{"./kube", "TestBadInput", "annotations as a list, numbers and booleans in stringData, template markup, malformed YAML: positioned problems, next Secret decodes"},
		{"./kube", "TestReadManifestsFormats", "flow style, comments, empty documents, JSON streams, mixed Lists"},
		{"./kube", "TestClassify", "Helm release Secrets are skipped"},
		{"./kube", "TestCorpusGolden", "the public corpus matches the golden report, no value in it"},
	}},
}
