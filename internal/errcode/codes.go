package errcode

// The catalogue. Codes are never renumbered or reused; retire a code by
// leaving it here with its text.
var (
	// System
	Internal = def("KAI-SYS-001", 500,
		"Something went wrong on our side. Please try again later.",
		"システムでエラーが発生しました。時間をおいて再度お試しください。")
	Busy = def("KAI-SYS-002", 503,
		"The service is busy right now. Please try again in a moment.",
		"ただいま混み合っています。少し時間をおいて再度お試しください。")
	CrossOrigin = def("KAI-SYS-003", 403,
		"This form was sent from another site and has been blocked. Please open the page again and retry.",
		"別のサイトから送信されたため、このフォームはブロックされました。ページを開き直してからもう一度お試しください。")
	BadRequest = def("KAI-SYS-004", 400,
		"The request could not be understood. Please open the page again and retry.",
		"リクエストを処理できませんでした。ページを開き直してからもう一度お試しください。")
	NotFound = def("KAI-SYS-005", 404,
		"This page does not exist.",
		"このページは存在しません。")
	TooLarge = def("KAI-SYS-006", 413,
		"The form is too large.",
		"送信されたフォームが大きすぎます。")

	// Sign-in
	LoginFailed = def("KAI-LOGIN-001", 401,
		"The email address or password is incorrect.",
		"メールアドレスまたはパスワードが正しくありません。")
	LoginRateLimited = def("KAI-LOGIN-002", 429,
		"Too many sign-in attempts. Please wait a while and try again.",
		"ログインの試行回数が多すぎます。しばらく待ってから再度お試しください。")
	LoginUnverified = def("KAI-LOGIN-003", 403,
		"Please confirm your email address first. We have sent you a new confirmation link.",
		"先にメールアドレスの確認を完了してください。確認用のリンクを再送しました。")
	SignInRequired = def("KAI-LOGIN-004", 401,
		"Please sign in to continue.",
		"続けるにはログインしてください。")

	// Registration
	EmailInvalid = def("KAI-REG-001", 400,
		"Please enter a valid email address.",
		"有効なメールアドレスを入力してください。")
	RegisterRateLimited = def("KAI-REG-002", 429,
		"Too many registrations from your network. Please try again later.",
		"お使いのネットワークからの登録が多すぎます。時間をおいて再度お試しください。")

	// Passwords
	PasswordTooShort = def("KAI-PWD-001", 400,
		"The password must be at least %d characters long.",
		"パスワードは%d文字以上にしてください。")
	PasswordTooLong = def("KAI-PWD-002", 400,
		"The password must be at most %d characters long.",
		"パスワードは%d文字以下にしてください。")
	PasswordCommon = def("KAI-PWD-003", 400,
		"This password is too common and easy to guess. Please choose another.",
		"このパスワードはよく使われており推測されやすいため使用できません。別のパスワードを選んでください。")
	PasswordContext = def("KAI-PWD-004", 400,
		"The password must not be based on your email address or the service name.",
		"メールアドレスやサービス名をもとにしたパスワードは使用できません。")
	PasswordCurrentWrong = def("KAI-PWD-005", 400,
		"The current password is incorrect.",
		"現在のパスワードが正しくありません。")

	// Email verification and change
	VerifyLinkInvalid = def("KAI-VERIFY-001", 400,
		"This confirmation link is invalid or has expired. Sign in to receive a new one.",
		"この確認リンクは無効か、有効期限が切れています。ログインすると新しいリンクが届きます。")
	EmailTaken = def("KAI-EMAIL-001", 409,
		"This email address cannot be used.",
		"このメールアドレスは使用できません。")
	EmailUnchanged = def("KAI-EMAIL-002", 400,
		"This is already your email address.",
		"このメールアドレスは現在のメールアドレスと同じです。")
	EmailLinkInvalid = def("KAI-EMAIL-003", 400,
		"This link to change your email address is invalid or has expired.",
		"メールアドレス変更用のリンクは無効か、有効期限が切れています。")

	// Password reset
	ResetLinkInvalid = def("KAI-RESET-001", 400,
		"This password reset link is invalid or has expired. Please request a new one.",
		"このパスワード再設定リンクは無効か、有効期限が切れています。もう一度お手続きください。")
	ResetRateLimited = def("KAI-RESET-002", 429,
		"Too many reset requests. Please wait a while and try again.",
		"再設定のリクエストが多すぎます。しばらく待ってから再度お試しください。")

	// OpenID Connect sign-in
	AuthRequestUnknown = def("KAI-OIDC-001", 400,
		"This sign-in request has expired or is unknown. Please go back to the service and start again.",
		"このログインリクエストは有効期限切れか、不明です。サービスに戻って最初からやり直してください。")
	ClientUnknown = def("KAI-OIDC-002", 400,
		"The service that sent you here is not registered with Kaiin, or sent a wrong return address.",
		"遷移元のサービスがKaiinに登録されていないか、戻り先のアドレスが正しくありません。")
	DeviceCodeUnknown = def("KAI-OIDC-003", 400,
		"This code is wrong, expired or already used. Check the code shown on your device, or start again there.",
		"このコードは誤っているか、有効期限切れか、使用済みです。機器に表示されたコードを確認するか、機器側でやり直してください。")
	DeviceRateLimited = def("KAI-OIDC-004", 429,
		"Too many codes entered. Please wait a while and try again.",
		"コードの入力回数が多すぎます。しばらく待ってから再度お試しください。")
)
