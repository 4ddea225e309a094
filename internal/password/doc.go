// Package password hashes and verifies member passwords and enforces the
// password policy.
//
// # Hashing
//
// Passwords are hashed with argon2id (RFC 9106) and stored as PHC strings,
// the format of the reference implementation and of most other libraries:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in standard base64 without padding. [DefaultParams] are
// the OWASP minimum (19 MiB, 2 passes, 1 lane) with a 16-byte random salt
// and a 32-byte key.
//
// The hash is the one deliberate cost of a password sign-in, and each one
// holds Params.Memory of RAM while it runs, so a [Hasher] bounds how many
// run at once (by default GOMAXPROCS, fewer if their memory together would
// pass 256 MiB). Callers beyond that wait in a bounded queue for a bounded
// time; a caller that finds the queue full, whose wait times out or whose
// context ends gets [ErrBusy] at once, which the HTTP layer answers with
// 429/503 and a Retry-After of [Hasher.RetryAfter]. Load therefore never
// piles up goroutines or memory here.
//
// Hash, Verify and VerifyDummy apply [Normalize] (NFKC) themselves, so
// callers pass the password exactly as entered. (A hash imported from
// another system verifies only if that system hashed the same NFKC form;
// for ASCII passwords the forms are identical.) Verify reports rehash=true
// when the stored hash is weaker than the current parameters: the caller
// should then store a fresh Hash of the password it just verified.
// VerifyDummy costs the same as a real Verify and is used for unknown
// accounts, so the response time does not reveal whether an account exists.
//
// # Policy
//
// [Policy.Check] follows NIST SP 800-63B: a length of at least MinLength
// (default and floor 8) and at most MaxLength (default 64) Unicode code
// points counted after NFKC, no composition rules (no "one digit, one
// symbol"), and a rejection of
//
//   - values on the blocklist: about 115,000 common and breached passwords,
//     dictionary words and names, compared case-insensitively (see
//     blocklist/README.md for the sources and their licences, and
//     scripts/gen-blocklist.sh to regenerate it). Entries shorter than 8
//     code points are left out of the list because the length rule already
//     rejects them; that is why MinLength cannot be set below 8.
//   - context-specific words: the service name "kaiin" and whatever the
//     caller passes (the member's email address, which also yields its
//     local part and domain name, the user name, the display name). A
//     password is rejected when such words, wherever they occur in it,
//     cover at least half of it, or when what is left once they are removed
//     has no letter ("kaiin2024!", "alice.smith123").
//
// Errors are *[PolicyError] values with a machine-readable [Reason]; they
// never include the password.
package password
