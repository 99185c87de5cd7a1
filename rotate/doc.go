// Package rotate will own scheduled, audited rotation of secret values: rotation policies,
// value generators, the staged state machine (a new value becomes current only after it was
// set and tested; the previous one stays recoverable), hooks and rollback. Nothing is
// implemented yet; the provider contract in package providers already carries the Versioned ability rotation needs.
package rotate
