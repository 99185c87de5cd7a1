#!/bin/sh
# Example hook for testdata/rotation.yaml: sets the new password of a database user.
exit 0
