package oidc

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/state"
)

// The device authorization grant (RFC 8628): a TV or a command-line tool
// gets a device code and a short user code; the member enters the user
// code on /device, signed in on any browser, and approves; the device,
// polling the token endpoint, then receives its tokens.

var _ op.DeviceAuthorizationStorage = (*storage)(nil)

// deviceGrant is a device authorization in the hot state, kept under the
// device code's hash and found from the user code.
type deviceGrant struct {
	ClientID string    `json:"c"`
	Scopes   []string  `json:"s"`
	Expires  time.Time `json:"e"`
	Done     bool      `json:"d,omitempty"`
	Denied   bool      `json:"x,omitempty"`
	Subject  string    `json:"u,omitempty"`
	AuthTime time.Time `json:"t,omitzero"`
}

func deviceKey(deviceCode string) string { return "oidc:dev:" + hashToken(deviceCode) }
func userCodeKey(userCode string) string { return "oidc:devuser:" + NormalizeUserCode(userCode) }

// NormalizeUserCode makes a typed user code comparable: upper case, with
// no dashes or spaces ("bcdf-ghjk" and "BCDFGHJK" are one code).
func NormalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	if b.Len() > 32 {
		return ""
	}
	return b.String()
}

func (s *storage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	c, err := s.clients.get(ctx, clientID)
	if err != nil {
		return err
	}
	ttl := time.Until(expires)
	if ttl <= 0 {
		return errors.New("device authorization already expired")
	}
	ok, err := s.state.SetNX(ctx, userCodeKey(userCode), []byte(deviceKey(deviceCode)), ttl)
	if err != nil {
		return err
	}
	if !ok {
		return op.ErrDuplicateUserCode
	}
	return s.putJSON(ctx, deviceKey(deviceCode), deviceGrant{ClientID: clientID, Scopes: c.allowedScopes(scopes), Expires: expires}, ttl)
}

func (s *storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	var g deviceGrant
	if err := s.getJSON(ctx, deviceKey(deviceCode), &g); err != nil || g.ClientID != clientID {
		return nil, notFound{"device authorization"}
	}
	st := &op.DeviceAuthorizationState{ClientID: g.ClientID, Audience: []string{g.ClientID}, Scopes: g.Scopes,
		Expires: g.Expires, Done: g.Done, Denied: g.Denied, Subject: g.Subject, AuthTime: g.AuthTime}
	if g.Done {
		st.AMR = []string{"pwd"}
		// The device gets its tokens once.
		_ = s.state.Delete(ctx, deviceKey(deviceCode))
	}
	return st, nil
}

// DeviceRequest is a pending device authorization, for the approval page.
type DeviceRequest struct {
	UserCode   string
	ClientID   string
	ClientName string
	Scopes     []string
}

// DeviceRequest finds the pending device authorization of a user code, or
// returns a KAI-OIDC-003 error.
func (p *Provider) DeviceRequest(ctx context.Context, userCode string) (*DeviceRequest, error) {
	g, _, err := p.deviceGrant(ctx, userCode)
	if err != nil {
		return nil, err
	}
	c, err := p.st.clients.get(ctx, g.ClientID)
	if err != nil {
		return nil, errcode.New(errcode.DeviceCodeUnknown, "user_code")
	}
	return &DeviceRequest{UserCode: NormalizeUserCode(userCode), ClientID: g.ClientID, ClientName: c.c.Name, Scopes: g.Scopes}, nil
}

func (p *Provider) deviceGrant(ctx context.Context, userCode string) (deviceGrant, string, error) {
	var g deviceGrant
	code := NormalizeUserCode(userCode)
	if code == "" {
		return g, "", errcode.New(errcode.DeviceCodeUnknown, "user_code")
	}
	key, err := p.st.state.Get(ctx, userCodeKey(code))
	if errors.Is(err, state.ErrNotFound) {
		return g, "", errcode.New(errcode.DeviceCodeUnknown, "user_code")
	}
	if err != nil {
		return g, "", errcode.Wrap(errcode.Internal, err)
	}
	if err := p.st.getJSON(ctx, string(key), &g); err != nil || g.Done || g.Denied {
		return g, "", errcode.New(errcode.DeviceCodeUnknown, "user_code")
	}
	return g, string(key), nil
}

// DecideDevice records the member's answer to a device authorization. The
// user code is used up either way.
func (p *Provider) DecideDevice(ctx context.Context, userCode, userID string, authTime time.Time, allow bool) error {
	g, key, err := p.deviceGrant(ctx, userCode)
	if err != nil {
		return err
	}
	if _, err := p.st.state.Take(ctx, userCodeKey(userCode)); err != nil {
		return errcode.New(errcode.DeviceCodeUnknown, "user_code")
	}
	if allow {
		g.Done, g.Subject, g.AuthTime = true, userID, authTime.UTC()
	} else {
		g.Denied = true
	}
	ttl := time.Until(g.Expires)
	if ttl <= 0 {
		return errcode.New(errcode.DeviceCodeUnknown, "user_code")
	}
	if err := p.st.putJSON(ctx, key, g, ttl); err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	return nil
}
