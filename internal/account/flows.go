package account

import (
	"context"
	"errors"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Register creates an unverified account and mails a confirmation link. If
// the address already belongs to a member, that member is told by mail
// instead, and the caller sees the same success: the answer, and the work
// done (one password hash), do not depend on whether the account exists.
func (s *Service) Register(ctx context.Context, email, pw string, lang i18n.Lang, ip string) error {
	if err := s.limited(ctx, "register_ip", s.Limits.RegisterIP, ip, errcode.RegisterRateLimited); err != nil {
		return err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	// Counted per address whether or not it is taken: each attempt may
	// mail the owner, and the limit must reveal nothing either.
	if err := s.limited(ctx, "register_account", s.Limits.RegisterAccount, email, errcode.RegisterRateLimited); err != nil {
		return err
	}
	if err := s.Policy.Check(pw, email); err != nil {
		return s.policyErr(err, "password")
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return hashErr(err)
	}
	now := s.now()
	u := store.User{ID: newID(), Email: email, PasswordHash: hash, Locale: string(lang),
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	err = s.Store.CreateUser(ctx, u)
	if errors.Is(err, store.ErrAlreadyExists) {
		existing, gerr := s.Store.GetUserByEmail(ctx, email)
		if gerr == nil {
			s.send(langOf(existing, lang), email, "exists", s.PublicURL+"/login", s.PublicURL+"/password/forgot")
		}
		return nil
	}
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	return s.sendVerification(ctx, u, lang)
}

func (s *Service) sendVerification(ctx context.Context, u store.User, lang i18n.Lang) error {
	token, err := s.putToken(ctx, "verify", tokenData{UserID: u.ID, Email: u.Email}, VerifyTTL)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	s.send(langOf(u, lang), u.Email, "verify", s.link("/verify", token))
	return nil
}

// VerifyEmail consumes a confirmation link and marks the address verified.
func (s *Service) VerifyEmail(ctx context.Context, token string) (store.User, error) {
	d, err := s.readToken(ctx, "verify", token, true)
	if errors.Is(err, state.ErrNotFound) {
		return store.User{}, errcode.New(errcode.VerifyLinkInvalid, "")
	}
	if err != nil {
		return store.User{}, errcode.Wrap(errcode.Internal, err)
	}
	u, err := s.Store.UpdateUser(ctx, d.UserID, func(u store.User) (store.User, error) {
		if u.Email != d.Email { // the address changed since the link was sent
			return u, errcode.New(errcode.VerifyLinkInvalid, "")
		}
		u.EmailVerified = true
		u.UpdatedAt = s.now()
		return u, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return u, errcode.New(errcode.VerifyLinkInvalid, "")
	}
	if _, coded := errcode.As(err); err != nil && !coded {
		return u, errcode.Wrap(errcode.Internal, err)
	}
	return u, err
}

// SignIn checks an email and password. It costs one password hash whether
// or not the account exists. An unverified member gets a new confirmation
// link and KAI-LOGIN-003.
func (s *Service) SignIn(ctx context.Context, email, pw string, lang i18n.Lang, ip string) (store.User, error) {
	if err := s.limited(ctx, "signin_ip", s.Limits.SignInIP, ip, errcode.LoginRateLimited); err != nil {
		return store.User{}, err
	}
	email, err := NormalizeEmail(email)
	if err != nil || len(pw) > 4*s.Policy.MaxLength {
		// Malformed input cannot match an account; still pay for a hash so
		// that the answer's timing says nothing.
		if err := s.Hasher.VerifyDummy(ctx, "x"); err != nil {
			return store.User{}, hashErr(err)
		}
		return store.User{}, errcode.New(errcode.LoginFailed, "")
	}
	if err := s.limited(ctx, "signin_account", s.Limits.SignInAccount, email, errcode.LoginRateLimited); err != nil {
		return store.User{}, err
	}
	u, err := s.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.PasswordHash == "") {
		if err := s.Hasher.VerifyDummy(ctx, pw); err != nil {
			return store.User{}, hashErr(err)
		}
		return store.User{}, errcode.New(errcode.LoginFailed, "")
	}
	if err != nil {
		return store.User{}, errcode.Wrap(errcode.Internal, err)
	}
	ok, rehash, err := s.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return store.User{}, hashErr(err)
	}
	if !ok {
		return store.User{}, errcode.New(errcode.LoginFailed, "")
	}
	if !u.EmailVerified {
		if err := s.sendVerification(ctx, u, lang); err != nil {
			return store.User{}, err
		}
		return store.User{}, errcode.New(errcode.LoginUnverified, "")
	}
	if !s.Limits.SignInAccount.Off() {
		// Earlier failures no longer count against the member.
		_ = s.Limiter.Reset(ctx, "signin_account", email)
	}
	if rehash {
		s.upgradeHash(ctx, u, pw)
	}
	return u, nil
}

// upgradeHash re-hashes a password stored with weaker parameters. A
// failure is not the member's problem: the old hash still works.
func (s *Service) upgradeHash(ctx context.Context, u store.User, pw string) {
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	_, err = s.Store.UpdateUser(ctx, u.ID, func(cur store.User) (store.User, error) {
		if cur.PasswordHash == u.PasswordHash {
			cur.PasswordHash = hash
		}
		return cur, nil
	})
	if err != nil {
		s.Logger.Warn("password hash upgrade failed", "err", err)
	}
}

// RequestReset mails a reset link when the address belongs to a member.
// The answer is the same either way.
func (s *Service) RequestReset(ctx context.Context, email string, lang i18n.Lang, ip string) error {
	if err := s.limited(ctx, "reset_ip", s.Limits.ResetIP, ip, errcode.ResetRateLimited); err != nil {
		return err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	// Counted per address whether or not it exists, so the limit reveals
	// nothing either.
	if err := s.limited(ctx, "reset_account", s.Limits.ResetAccount, email, errcode.ResetRateLimited); err != nil {
		return err
	}
	u, err := s.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	token, err := s.putToken(ctx, "reset", tokenData{UserID: u.ID, PasswordChangedAt: u.PasswordChangedAt}, ResetTTL)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	s.send(langOf(u, lang), u.Email, "reset", s.link("/password/reset", token))
	return nil
}

// CheckResetToken reports whether a reset link is still good, without
// using it up, and returns the member's address (for password managers,
// which file the new password under it).
func (s *Service) CheckResetToken(ctx context.Context, token string) (string, error) {
	d, err := s.resetTarget(ctx, token, false)
	if err != nil {
		return "", err
	}
	u, err := s.Store.GetUser(ctx, d.UserID)
	if err != nil {
		return "", errcode.New(errcode.ResetLinkInvalid, "")
	}
	return u.Email, nil
}

func (s *Service) resetTarget(ctx context.Context, token string, take bool) (tokenData, error) {
	d, err := s.readToken(ctx, "reset", token, take)
	if errors.Is(err, state.ErrNotFound) {
		return d, errcode.New(errcode.ResetLinkInvalid, "")
	}
	if err != nil {
		return d, errcode.Wrap(errcode.Internal, err)
	}
	return d, nil
}

// ResetPassword sets a new password through a reset link, verifies the
// address (the link proved the mailbox), and signs every browser out
// (the caller ends the sessions with the returned user's ID).
func (s *Service) ResetPassword(ctx context.Context, token, pw string) (store.User, error) {
	d, err := s.resetTarget(ctx, token, false)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.Store.GetUser(ctx, d.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errcode.New(errcode.ResetLinkInvalid, "")
	}
	if err != nil {
		return store.User{}, errcode.Wrap(errcode.Internal, err)
	}
	// A policy failure keeps the link usable for the next try.
	if err := s.Policy.Check(pw, u.Email); err != nil {
		return store.User{}, s.policyErr(err, "password")
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, hashErr(err)
	}
	// Take the token only now: of two concurrent uses, one wins.
	if _, err := s.resetTarget(ctx, token, true); err != nil {
		return store.User{}, err
	}
	return s.setPassword(ctx, d.UserID, hash, func(cur *store.User) error {
		if !cur.PasswordChangedAt.Equal(d.PasswordChangedAt) {
			return errcode.New(errcode.ResetLinkInvalid, "")
		}
		cur.EmailVerified = true
		return nil
	})
}

// ChangePassword replaces the password of a signed-in member who knows the
// current one.
func (s *Service) ChangePassword(ctx context.Context, userID, current, pw string) (store.User, error) {
	u, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return store.User{}, errcode.Wrap(errcode.Internal, err)
	}
	ok, _, err := s.Hasher.Verify(ctx, current, u.PasswordHash)
	if err != nil {
		return store.User{}, hashErr(err)
	}
	if !ok {
		return store.User{}, errcode.New(errcode.PasswordCurrentWrong, "current_password")
	}
	if err := s.Policy.Check(pw, u.Email); err != nil {
		return store.User{}, s.policyErr(err, "new_password")
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, hashErr(err)
	}
	u, err = s.setPassword(ctx, userID, hash, nil)
	if err == nil {
		s.send(langOf(u, i18n.EN), u.Email, "password_changed", s.PublicURL+"/password/forgot")
	}
	return u, err
}

func (s *Service) setPassword(ctx context.Context, userID, hash string, check func(*store.User) error) (store.User, error) {
	u, err := s.Store.UpdateUser(ctx, userID, func(cur store.User) (store.User, error) {
		if check != nil {
			if err := check(&cur); err != nil {
				return cur, err
			}
		}
		now := s.now()
		cur.PasswordHash = hash
		cur.PasswordChangedAt = now
		cur.UpdatedAt = now
		return cur, nil
	})
	if _, coded := errcode.As(err); err != nil && !coded {
		return u, errcode.Wrap(errcode.Internal, err)
	}
	return u, err
}

// RequestEmailChange mails a confirmation link to the new address after
// checking the member's password. If the new address belongs to someone
// else, its owner is told instead and the caller sees the same answer.
func (s *Service) RequestEmailChange(ctx context.Context, userID, pw, newEmail string, lang i18n.Lang) error {
	u, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	ok, _, err := s.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return hashErr(err)
	}
	if !ok {
		return errcode.New(errcode.PasswordCurrentWrong, "current_password")
	}
	newEmail, err = NormalizeEmail(newEmail)
	if err != nil {
		return err
	}
	if newEmail == u.Email {
		return errcode.New(errcode.EmailUnchanged, "email")
	}
	if other, err := s.Store.GetUserByEmail(ctx, newEmail); err == nil {
		s.send(langOf(other, lang), newEmail, "email_taken")
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return errcode.Wrap(errcode.Internal, err)
	}
	token, err := s.putToken(ctx, "email", tokenData{UserID: u.ID, Email: newEmail}, EmailChangeTTL)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	s.send(lang, newEmail, "email_change", s.link("/account/email/confirm", token))
	return nil
}

// ConfirmEmailChange consumes the link sent to the new address, makes it
// the member's verified address, and tells the old address.
func (s *Service) ConfirmEmailChange(ctx context.Context, token string) (store.User, error) {
	d, err := s.readToken(ctx, "email", token, true)
	if errors.Is(err, state.ErrNotFound) {
		return store.User{}, errcode.New(errcode.EmailLinkInvalid, "")
	}
	if err != nil {
		return store.User{}, errcode.Wrap(errcode.Internal, err)
	}
	var old string
	u, err := s.Store.UpdateUser(ctx, d.UserID, func(cur store.User) (store.User, error) {
		old = cur.Email
		cur.Email = d.Email
		cur.EmailVerified = true
		cur.UpdatedAt = s.now()
		return cur, nil
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return u, errcode.New(errcode.EmailTaken, "email")
	case errors.Is(err, store.ErrNotFound):
		return u, errcode.New(errcode.EmailLinkInvalid, "")
	case err != nil:
		return u, errcode.Wrap(errcode.Internal, err)
	}
	s.send(langOf(u, i18n.EN), old, "email_changed", s.PublicURL+"/password/forgot")
	return u, nil
}

// CreateUser makes an account directly (for operators and scripts): no
// mail is sent. The password must pass the policy.
func (s *Service) CreateUser(ctx context.Context, email, pw string, verified, admin bool) (store.User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	if err := s.Policy.Check(pw, email); err != nil {
		return store.User{}, s.policyErr(err, "password")
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, hashErr(err)
	}
	now := s.now()
	u := store.User{ID: newID(), Email: email, EmailVerified: verified, PasswordHash: hash, Admin: admin,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.User{}, errcode.New(errcode.EmailTaken, "email")
		}
		return store.User{}, errcode.Wrap(errcode.Internal, err)
	}
	return u, nil
}

// knownDeviceTTL is how long a browser stays known after its last sign-in.
const knownDeviceTTL = 400 * 24 * time.Hour

// SeenDevice records that u signed in on the browser identified by
// deviceID (a random value in a long-lived cookie) and, the first time,
// mails u about the new sign-in with a link to review the devices. Each
// known browser is one key with a TTL (no set that grows per member), and
// the member's very first browser is not news.
func (s *Service) SeenDevice(ctx context.Context, u store.User, deviceID, description, ip string, lang i18n.Lang) error {
	key := "kdev:" + u.ID + ":" + tokenKey("device", deviceID)
	_, err := s.State.Get(ctx, key)
	known := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if err := s.State.Set(ctx, key, []byte{1}, knownDeviceTTL); err != nil {
		return err
	}
	if known {
		return nil
	}
	first, err := s.State.SetNX(ctx, "kdev:"+u.ID, []byte{1}, knownDeviceTTL)
	if err != nil || first {
		return err
	}
	s.send(langOf(u, lang), u.Email, "new_device", description, ip, s.now().Format("2006-01-02 15:04 MST"), s.PublicURL+"/account")
	return nil
}

// CheckPassword confirms a signed-in member's password before a sensitive
// change (recent re-authentication).
func (s *Service) CheckPassword(ctx context.Context, userID, pw string) error {
	u, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	ok, _, err := s.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return hashErr(err)
	}
	if !ok {
		return errcode.New(errcode.PasswordCurrentWrong, "current_password")
	}
	return nil
}

// NotifyMFAChange mails the member that their two-step verification
// changed; change is a message key ("mfa.change.totp_added"…).
func (s *Service) NotifyMFAChange(u store.User, lang i18n.Lang, change string) {
	l := langOf(u, lang)
	s.send(l, u.Email, "mfa_changed", i18n.T(l, change), s.PublicURL+"/account")
}
