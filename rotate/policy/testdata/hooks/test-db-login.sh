#!/bin/sh
# Example hook for testdata/rotation.yaml: checks that the new password works.
exit 0
