// Package mfa is the second factor of signing in: authenticator apps
// (TOTP, RFC 6238) and one-time recovery codes, kept as store.Factor rows.
// Passkeys will join them as another kind.
//
// # TOTP
//
// BeginTOTP makes an unconfirmed factor with a fresh 160-bit secret, sealed
// by the Sealer under additional data that binds it to the factor and its
// member (a sealed secret copied to another row does not open), and returns
// what the enrolment page shows: the QR code, the otpauth:// URI and the
// secret as text. ConfirmTOTP checks a first code and confirms the factor;
// an enrolment not confirmed within EnrollTimeout is refused and may be
// started again (BeginTOTP also drops the member's earlier unconfirmed
// ones). Codes are what every authenticator app expects: SHA-1, six
// digits, 30-second steps, issuer "Kaiin".
//
// VerifyTOTP accepts the code of the current step or of one step either
// side (clock skew), compared in constant time. An accepted (factor, step)
// is spent twice over: in the hot state with SetNX under
// "mfa:totp-used:<factor>:<step>", which settles concurrent submissions on
// every node, and in the factor's Data as the last accepted step, which
// refuses that step and every earlier one even after the hot state is lost.
// So a code seen over a shoulder, or replayed by a phishing proxy, is
// worthless once the member has used it.
//
// # Recovery codes
//
// GenerateRecoveryCodes returns ten codes of ten characters from Crockford's
// base32 alphabet (50 bits each), shown as xxxxx-xxxxx; input is forgiving
// (case, hyphens, spaces, full-width characters, O for 0, I and L for 1).
// Only their hashes are stored, in one "recovery" factor: HMAC-SHA-256
// under RecoveryKey, a server secret, over the member's and the set's IDs
// and the code. A keyed fast hash rather than argon2id because the codes are
// random and long: they cannot be guessed online (rate limit below), and
// the database alone, without the key, does not let them be found offline.
// A new set replaces the old one, whose codes stop working at once.
// UseRecoveryCode marks one code used inside UpdateFactor's transaction, so
// of concurrent uses of one code exactly one succeeds.
//
// # Attempts
//
// ConfirmTOTP, VerifyTOTP and UseRecoveryCode count one attempt each against
// Rate, per member, in the shared hot state (ratelimit.Limiter), so the
// limit holds across nodes; a success clears the count. At the default
// five attempts per five minutes, a guesser with the password gets about
// 1 440 tries a day, each with a 3 in 10⁶ chance. Malformed input is refused
// before it counts.
//
// # Errors
//
// Every error meant for the member is an *errcode.Error (KAI-MFA-…); its
// cause is one of this package's sentinel errors (ErrWrongCode,
// ErrReplayed, …) for callers and tests that need to tell them apart.
// Other errors are internal.
//
// # What callers must do
//
//   - Enabled tells the sign-in flow whether to ask for a second factor:
//     recovery codes alone do not count, they only stand in for a lost
//     authenticator.
//   - Removing the member's last factor turns two-step verification off:
//     the caller must require a recent re-authentication first (password
//     or a second factor within the last few minutes). RemoveFactor does
//     not check this; it removes the recovery codes with the last factor.
//   - Every factor change (added, removed, new recovery codes) should send
//     the member a notification mail.
package mfa
