package sqlstore

// What the OpenID Connect provider keeps: clients, signing keys and
// consents (migration 00003).
//
// Lists ([]string) are stored as JSON arrays of strings: TEXT checked by
// json_valid on SQLite, JSON on PostgreSQL (which keeps the text as written;
// JSONB would refuse "\u0000"). Order and duplicates are kept. A nil and an
// empty list are both stored as "[]" and both read back as nil. Strings in
// lists must be valid UTF-8 (JSON could not carry them exactly otherwise):
// a write with an invalid one fails and stores nothing.
//
// Byte fields are BLOB / BYTEA and round-trip exactly, except that nil and
// empty are the same: both read back as nil. Client.JWKS is NULL when empty.
//
// Times follow the users table: UTC, microseconds; the zero time is NULL
// where a column may be unset (SigningKey.SignUntil and PublishUntil).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store"
)

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// ---- clients ----

const clientColumns = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
	grant_types, scopes, auth_method, jwks, application_type, signing_alg,
	skip_consent, created_at, updated_at, require_mfa`

// clientArgs returns c's columns in the order of clientColumns.
func (s *Store) clientArgs(c store.Client) ([]any, error) {
	lists := make([]string, 4)
	for i, l := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes} {
		var err error
		if lists[i], err = listArg(l); err != nil {
			return nil, err
		}
	}
	return []any{c.ID, c.Name, c.SecretHash, lists[0], lists[1], lists[2], lists[3],
		c.AuthMethod, nullBytesArg(c.JWKS), c.ApplicationType, c.SigningAlg,
		c.SkipConsent, s.timeArg(c.CreatedAt), s.timeArg(c.UpdatedAt), c.RequireMFA}, nil
}

func scanClient(row rowScanner) (store.Client, error) {
	var c store.Client
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, dbList{&c.RedirectURIs},
		dbList{&c.PostLogoutRedirectURIs}, dbList{&c.GrantTypes}, dbList{&c.Scopes},
		&c.AuthMethod, &c.JWKS, &c.ApplicationType, &c.SigningAlg, &c.SkipConsent,
		dbTime{&c.CreatedAt}, dbTime{&c.UpdatedAt}, &c.RequireMFA)
	return normalizeClient(c), err
}

// normalizeClient puts c in the form a read returns.
func normalizeClient(c store.Client) store.Client {
	c.RedirectURIs = normList(c.RedirectURIs)
	c.PostLogoutRedirectURIs = normList(c.PostLogoutRedirectURIs)
	c.GrantTypes = normList(c.GrantTypes)
	c.Scopes = normList(c.Scopes)
	c.JWKS = normBytes(c.JWKS)
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return c
}

// CreateClient implements store.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if c.ID == "" {
		return errors.New("sqlstore: create client: empty ID")
	}
	args, err := s.clientArgs(c)
	if err != nil {
		return fmt.Errorf("sqlstore: create client %s: %w", c.ID, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, args...)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("sqlstore: create client %s: ID taken: %w", c.ID, store.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create client %s: %w", c.ID, err)
	}
	return nil
}

// GetClient implements store.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.db.QueryRowContext(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: get client %s: %w", id, notFound(err))
	}
	return c, nil
}

// ListClients implements store.ClientStore. IDs are ordered bytewise on
// both dialects (COLLATE "C" on PostgreSQL, whose default collation may
// depend on the locale).
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+clientColumns+` FROM clients ORDER BY id`+s.byteOrder())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	return out, nil
}

// UpdateClient implements store.ClientStore; it locks the row as UpdateUser
// does, and the same rules apply to update. An updater that changes the ID
// gets an error and nothing is written.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(store.Client) (store.Client, error)) (store.Client, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: update client %s: begin: %w", id, err)
	}
	defer tx.Rollback() // no-op after Commit

	old, err := scanClient(tx.QueryRowContext(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = $1`+s.forUpdate(), id))
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: update client %s: %w", id, notFound(err))
	}
	c, err := update(old)
	if err != nil {
		return store.Client{}, err
	}
	if c.ID != old.ID {
		return store.Client{}, fmt.Errorf("sqlstore: update client %s: the updater changed the ID", id)
	}
	args, err := s.clientArgs(c)
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: update client %s: %w", id, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE clients SET name = $2, secret_hash = $3,
		redirect_uris = $4, post_logout_redirect_uris = $5, grant_types = $6, scopes = $7,
		auth_method = $8, jwks = $9, application_type = $10, signing_alg = $11,
		skip_consent = $12, created_at = $13, updated_at = $14, require_mfa = $15 WHERE id = $1`, args...)
	if err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: update client %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Client{}, fmt.Errorf("sqlstore: update client %s: commit: %w", id, err)
	}
	return normalizeClient(c), nil
}

// DeleteClient implements store.ClientStore. The client's consents go with
// it (ON DELETE CASCADE).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "client "+id, `DELETE FROM clients WHERE id = $1`, id)
}

// ---- signing keys ----

const signingKeyColumns = `id, algorithm, sealed, public_key, created_at, sign_from,
	sign_until, publish_until`

func (s *Store) signingKeyArgs(k store.SigningKey) []any {
	return []any{k.ID, k.Algorithm, bytesArg(k.Sealed), bytesArg(k.Public),
		s.timeArg(k.CreatedAt), s.timeArg(k.SignFrom),
		s.nullTimeArg(k.SignUntil), s.nullTimeArg(k.PublishUntil)}
}

func scanSigningKey(row rowScanner) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public,
		dbTime{&k.CreatedAt}, dbTime{&k.SignFrom}, dbTime{&k.SignUntil}, dbTime{&k.PublishUntil})
	return normalizeSigningKey(k), err
}

func normalizeSigningKey(k store.SigningKey) store.SigningKey {
	k.Sealed = normBytes(k.Sealed)
	k.Public = normBytes(k.Public)
	k.CreatedAt = normTime(k.CreatedAt)
	k.SignFrom = normTime(k.SignFrom)
	k.SignUntil = normTime(k.SignUntil)
	k.PublishUntil = normTime(k.PublishUntil)
	return k
}

// CreateSigningKey implements store.SigningKeyStore. The sealed private key
// never appears in an error.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	if k.ID == "" {
		return errors.New("sqlstore: create signing key: empty ID")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, s.signingKeyArgs(k)...)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("sqlstore: create signing key %s: ID taken: %w", k.ID, store.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create signing key %s: %w", k.ID, err)
	}
	return nil
}

// ListSigningKeys implements store.SigningKeyStore: ordered by CreatedAt,
// then by ID for keys made in the same microsecond.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at, id`+s.byteOrder())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
	}
	return out, nil
}

// UpdateSigningKey implements store.SigningKeyStore, like UpdateClient: it
// returns ErrNotFound for a missing key, and an updater that changes the ID
// gets an error and nothing is written.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("sqlstore: update signing key %s: begin: %w", id, err)
	}
	defer tx.Rollback() // no-op after Commit

	old, err := scanSigningKey(tx.QueryRowContext(ctx,
		`SELECT `+signingKeyColumns+` FROM signing_keys WHERE id = $1`+s.forUpdate(), id))
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("sqlstore: update signing key %s: %w", id, notFound(err))
	}
	k, err := update(old)
	if err != nil {
		return store.SigningKey{}, err
	}
	if k.ID != old.ID {
		return store.SigningKey{}, fmt.Errorf("sqlstore: update signing key %s: the updater changed the ID", id)
	}
	_, err = tx.ExecContext(ctx, `UPDATE signing_keys SET algorithm = $2, sealed = $3,
		public_key = $4, created_at = $5, sign_from = $6, sign_until = $7,
		publish_until = $8 WHERE id = $1`, s.signingKeyArgs(k)...)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("sqlstore: update signing key %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.SigningKey{}, fmt.Errorf("sqlstore: update signing key %s: commit: %w", id, err)
	}
	return normalizeSigningKey(k), nil
}

// DeleteSigningKey implements store.SigningKeyStore.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "signing key "+id, `DELETE FROM signing_keys WHERE id = $1`, id)
}

// ---- consents ----

const consentColumns = `user_id, client_id, scopes, granted_at`

func scanConsent(row rowScanner) (store.Consent, error) {
	var c store.Consent
	err := row.Scan(&c.UserID, &c.ClientID, dbList{&c.Scopes}, dbTime{&c.GrantedAt})
	return c, err
}

// PutConsent implements store.ConsentStore. It returns ErrNotFound when
// the user or the client does not exist.
func (s *Store) PutConsent(ctx context.Context, c store.Consent) error {
	what := fmt.Sprintf("consent of %s to %s", c.UserID, c.ClientID)
	scopes, err := listArg(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: put %s: %w", what, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id)
		DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, scopes, s.timeArg(c.GrantedAt))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("sqlstore: put %s: no such user or client: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: put %s: %w", what, err)
	}
	return nil
}

// GetConsent implements store.ConsentStore.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	c, err := scanConsent(s.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	if err != nil {
		return store.Consent{}, fmt.Errorf("sqlstore: get consent of %s to %s: %w", userID, clientID, notFound(err))
	}
	return c, nil
}

// ListConsents implements store.ConsentStore. A user without consents (or
// without an account) has none: the result is empty, not ErrNotFound.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = $1 ORDER BY client_id`+s.byteOrder(), userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list consents of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []store.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list consents of %s: %w", userID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list consents of %s: %w", userID, err)
	}
	return out, nil
}

// DeleteConsent implements store.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.deleteOne(ctx, fmt.Sprintf("consent of %s to %s", userID, clientID),
		`DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
}

// ---- helpers ----

// deleteOne runs a DELETE and returns ErrNotFound when it removed nothing.
func (s *Store) deleteOne(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete %s: %w", what, store.ErrNotFound)
	}
	return nil
}

// forUpdate is the row lock an update transaction's SELECT takes: FOR
// UPDATE on PostgreSQL; nothing on SQLite, where BEGIN already holds the
// database's write lock (_txlock=immediate).
func (s *Store) forUpdate() string {
	if s.db.Dialect == sqldb.Postgres {
		return ` FOR UPDATE`
	}
	return ``
}

// byteOrder follows a text ORDER BY term so that both dialects sort by
// bytes: SQLite's BINARY collation already does; PostgreSQL's default
// collation may follow a locale.
func (s *Store) byteOrder() string {
	if s.db.Dialect == sqldb.Postgres {
		return ` COLLATE "C"`
	}
	return ``
}

// listArg encodes a list for a JSON column. nil and empty both become "[]".
func listArg(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	for _, v := range l {
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("list entry %q is not valid UTF-8", v)
		}
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// dbList scans a column written by listArg; an empty list reads as nil.
type dbList struct{ l *[]string }

func (d dbList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds a %T", src)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	*d.l = normList(l)
	return nil
}

func normList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// bytesArg encodes b for a NOT NULL binary column: nil is stored empty.
func bytesArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullBytesArg encodes b for a nullable binary column: empty is NULL.
func nullBytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// isForeignKeyViolation reports whether err is a foreign-key violation in
// either dialect.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || // sqlite
		strings.Contains(s, "SQLSTATE 23503") // postgres (pgconn.PgError)
}
