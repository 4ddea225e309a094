package main

import "os"

// environ is os.Environ, replaceable in tests.
var environ = os.Environ
