// Package member is the member-profile library: the personal data a member
// keeps with Kaiin (names and their kana readings, email, phone, postal
// address, birthdate, locale, time zone), how it is normalised and
// validated, how it is sealed at rest, how it is found without being
// stored in plain text, and which OpenID Connect claims it yields.
//
//   - Normalize turns what a person typed into canonical values (NFKC,
//     E.164 phone numbers, NNN-NNNN postal codes, one of the 47
//     prefectures, katakana readings…) and reports every problem at once
//     as Problems, a list of coded errors (KAI-PROFILE-*) naming the field.
//   - Vault seals each field group under the member's own data key, which
//     is stored wrapped by the key-encryption key (envelope encryption).
//     Deleting the wrapped data key destroys the member's personal data in
//     every copy of the database at once (crypto-shredding).
//   - BlindIndex computes the keyed hashes of emails and phone numbers
//     used for exact-match lookup.
//   - Claims returns the claims the granted scopes allow.
//
// The package has no storage of its own: the caller keeps, per member,
// the wrapped data key, the sealed blobs by group, and the blind indexes.
package member
