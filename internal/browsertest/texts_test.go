package browsertest

// The texts a person sees, written out here (not read from the i18n and
// errcode packages) so that a wrong or missing translation fails a test.

// texts are the page texts of one language (internal/i18n/messages.json).
type texts struct {
	langName        string // the language's own button in the switch
	registerTitle   string
	checkEmail      string // after registering, and after asking for a reset
	verifySubject   string
	verifyTitle     string
	verifyButton    string
	verifiedTitle   string
	verifiedBody    string
	outboxTitle     string
	loginTitle      string
	loginButton     string
	forgotLink      string
	accountTitle    string
	confirmedBadge  string
	logoutButton    string
	signedOut       string
	forgotTitle     string
	resetSubject    string
	resetTitle      string
	passwordChanged string

	// The pages of an OpenID Connect authorization.
	loginForClient string // login.for_client, with the client's name
	consentTitle   string
	consentIntro   string // consent.intro, with the client's name
	consentAsUser  string // consent.signed_in_as, with the address
	consentAllow   string
	consentDeny    string
	scopes         map[string]string // scope.* by scope
}

var txt = map[string]texts{
	"en": {
		langName:        "English",
		registerTitle:   "Create an account",
		checkEmail:      "Check your email",
		verifySubject:   "Confirm your email address",
		verifyTitle:     "Confirm your email address",
		verifyButton:    "Confirm",
		verifiedTitle:   "Email address confirmed",
		verifiedBody:    "Your email address is confirmed. You can now sign in.",
		outboxTitle:     "Dev outbox",
		loginTitle:      "Sign in",
		loginButton:     "Sign in",
		forgotLink:      "Forgot your password?",
		accountTitle:    "Your account",
		confirmedBadge:  "confirmed",
		logoutButton:    "Sign out",
		signedOut:       "You have signed out.",
		forgotTitle:     "Reset your password",
		resetSubject:    "Reset your password",
		resetTitle:      "Choose a new password",
		passwordChanged: "Password changed",
		loginForClient:  "Sign in to continue to %s.",
		consentTitle:    "Allow access",
		consentIntro:    "%s would like to:",
		consentAsUser:   "Signed in as %s.",
		consentAllow:    "Allow",
		consentDeny:     "Deny",
		scopes: map[string]string{
			"openid":         "Know who you are (an identifier for your account)",
			"profile":        "See your basic profile (language, last update)",
			"email":          "See your email address",
			"offline_access": "Stay connected when you are not using it",
		},
	},
	"ja": {
		langName:        "日本語",
		registerTitle:   "会員登録",
		checkEmail:      "メールをご確認ください",
		verifySubject:   "メールアドレスの確認",
		verifyTitle:     "メールアドレスの確認",
		verifyButton:    "確認する",
		verifiedTitle:   "メールアドレスを確認しました",
		verifiedBody:    "メールアドレスの確認が完了しました。ログインできます。",
		outboxTitle:     "開発用メールボックス",
		loginTitle:      "ログイン",
		loginButton:     "ログイン",
		forgotLink:      "パスワードをお忘れですか?",
		accountTitle:    "アカウント",
		confirmedBadge:  "確認済み",
		logoutButton:    "ログアウト",
		signedOut:       "ログアウトしました。",
		forgotTitle:     "パスワードの再設定",
		resetSubject:    "パスワードの再設定",
		resetTitle:      "新しいパスワードの設定",
		passwordChanged: "パスワードを変更しました",
		loginForClient:  "%sを利用するにはログインしてください。",
		consentTitle:    "アクセスの許可",
		consentIntro:    "%sが次の情報へのアクセスを求めています:",
		consentAsUser:   "%sでログイン中です。",
		consentAllow:    "許可する",
		consentDeny:     "拒否する",
		scopes: map[string]string{
			"openid":         "あなたが誰であるかを知る(アカウントの識別子)",
			"profile":        "基本的なプロフィール(言語、更新日時)を見る",
			"email":          "メールアドレスを見る",
			"offline_access": "利用していない間も接続を維持する",
		},
	},
}

var langs = []string{"en", "ja"}

// other is the language that is not lang: the one a page is in before the
// switch to lang is pressed.
func other(lang string) string {
	if lang == "ja" {
		return "en"
	}
	return "ja"
}

// acceptLanguage is what a browser set up for lang sends.
func acceptLanguage(lang string) string {
	if lang == "ja" {
		return "ja"
	}
	return "en-US,en;q=0.9"
}

// codedError is an entry of internal/errcode/codes.go, with its texts
// exactly as there.
type codedError struct{ id, en, ja string }

var (
	errLoginFailed = codedError{"KAI-LOGIN-001",
		"The email address or password is incorrect.",
		"メールアドレスまたはパスワードが正しくありません。"}
	errPasswordTooShort = codedError{"KAI-PWD-001",
		"The password must be at least %d characters long.",
		"パスワードは%d文字以上にしてください。"}
	errPasswordCommon = codedError{"KAI-PWD-003",
		"This password is too common and easy to guess. Please choose another.",
		"このパスワードはよく使われており推測されやすいため使用できません。別のパスワードを選んでください。"}
	errVerifyLinkInvalid = codedError{"KAI-VERIFY-001",
		"This confirmation link is invalid or has expired. Sign in to receive a new one.",
		"この確認リンクは無効か、有効期限が切れています。ログインすると新しいリンクが届きます。"}
	errResetLinkInvalid = codedError{"KAI-RESET-001",
		"This password reset link is invalid or has expired. Please request a new one.",
		"このパスワード再設定リンクは無効か、有効期限が切れています。もう一度お手続きください。"}
)
