// Package keys keeps the keys that sign tokens, rotates them, publishes
// their public halves (the JWKS), and seals secrets under the
// key-encryption key (KEK) before they reach the database.
//
// # Envelope encryption
//
// A Sealer encrypts with AES-256-GCM under the KEK. A sealed value is
//
//	version (1 byte) | KEK id (4 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// where the KEK id is the start of a labelled SHA-256 of the KEK: Open
// tells a wrong KEK (ErrUnknownKEK) from a damaged value (ErrCorrupt) and
// picks the right one of several KEKs, so a KEK can be rotated by starting
// with the new KEK as current and the old as previous, then re-sealing
// (SealedUnderCurrent finds what is left). The header and the caller's
// additional data are authenticated: a private key is sealed with
// "signing-key:<kid>:<alg>", so a sealed key moved to another row does not
// open. The KEK itself comes from keys.kek or keys.kek_file (LoadKEK); the
// embedded SQLite mode generates one into <data_dir>/kek on first start. A
// backup of the database is useless without the KEK, and the KEK must be
// backed up apart from it.
//
// # Rotation timeline
//
// Each algorithm (ES256; RS256 when old relying parties need it) has its
// own keys. A key's row carries its whole schedule: CreatedAt (published
// from then on), SignFrom, SignUntil and PublishUntil. With the defaults
// (RotateEvery 30 days, PublishAhead 1 hour, MaxTokenLifetime 24 hours,
// RefreshEvery 30 seconds):
//
//	day 0    K1 made, signs at once (a new store: nobody has cached anything)
//	         K2 made and published; SignFrom = day 30
//	day 30   K2 signs (every node switches at that instant: it is in the rows)
//	         Ensure sets K1.SignUntil = day 30, K1.PublishUntil = day 31 + margin,
//	         and makes K3 with SignFrom = day 60
//	day 31+  K1 leaves the key set and is deleted: no token it signed is alive
//
// The key that signs at a moment is, of the keys whose SignFrom has come
// and whose SignUntil has not, the one whose SignFrom came last (the
// oldest, then the lowest kid, among equals). Because the handover time is
// in the rows, a node whose store is unreachable still hands over on time,
// and all nodes agree without talking to each other. A next key signs no
// sooner than PublishAhead after it was made, so relying parties and other
// nodes holding a cached key set have seen it. The margin after
// MaxTokenLifetime is RefreshEvery plus five minutes of clock skew: after
// a manual Rotate, other nodes sign with the old key until they reload.
//
// Rotate (kaiin admin keys rotate) makes the next key sign now, retires
// the current one as above, and publishes a new next key.
//
// # Several nodes
//
// Every node runs Ensure (Run calls it every minute). Each write is
// re-checked inside the store's update transaction, so two nodes never
// retire a key twice or move a schedule back. Races that create keys are
// resolved the same way on every node on the next round: of two first
// keys, one signs and the other retires (staying published, since it may
// have signed); of two next keys, the later is deleted (it never signed).
//
// # Memory
//
// Current and Published read an in-memory snapshot, reloaded at most every
// RefreshEvery (and by Refresh, for the change feed, and after Ensure and
// Rotate). Each private key is unsealed once, when first loaded, and kept
// in memory; Key's String names the key, never its private half.
// Key implements zitadel/oidc's op.SigningKey and PublicKey its op.Key.
package keys
