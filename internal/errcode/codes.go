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

// Member profile (internal/member). The texts name the problem; pages put
// them under the field's label (i18n key "field."+Error.Field).
var (
	ProfileTooLong = def("KAI-PROFILE-001", 400,
		"This is too long: please enter at most %d characters.",
		"長すぎます。%d文字以内で入力してください。")
	ProfileBadCharacters = def("KAI-PROFILE-002", 400,
		"This contains characters that cannot be used, such as control characters or line breaks.",
		"制御文字や改行など、使用できない文字が含まれています。")
	ProfileKanaInvalid = def("KAI-PROFILE-003", 400,
		"Please enter the reading in kana (hiragana or katakana) only.",
		"フリガナはひらがなまたはカタカナのみで入力してください。")
	ProfilePhoneInvalid = def("KAI-PROFILE-004", 400,
		"Please enter a valid phone number, such as 090-1234-5678 or +81 90-1234-5678.",
		"有効な電話番号を入力してください（例: 090-1234-5678、+81 90-1234-5678）。")
	ProfilePostalCodeJP = def("KAI-PROFILE-005", 400,
		"The postal code must be 7 digits, such as 100-0001.",
		"郵便番号は7桁の数字で入力してください（例: 100-0001）。")
	ProfilePostalCodeInvalid = def("KAI-PROFILE-006", 400,
		"Please enter a valid postal code (letters, digits, spaces and hyphens).",
		"有効な郵便番号を入力してください（英数字、空白、ハイフンのみ）。")
	ProfilePrefectureInvalid = def("KAI-PROFILE-007", 400,
		"Please choose one of the 47 prefectures of Japan.",
		"都道府県は47都道府県のいずれかを選んでください。")
	ProfileCountryInvalid = def("KAI-PROFILE-008", 400,
		"Please choose a valid country (a two-letter code such as JP).",
		"国を正しく選んでください（JPなどの2文字のコード）。")
	ProfileBirthdateInvalid = def("KAI-PROFILE-009", 400,
		"Please enter the date of birth as a real date, such as 1990-04-01.",
		"生年月日は実在する日付で入力してください（例: 1990-04-01）。")
	ProfileBirthdateRange = def("KAI-PROFILE-010", 400,
		"The date of birth must be between 1900 and today.",
		"生年月日は1900年から今日までの日付を入力してください。")
	ProfileLocaleInvalid = def("KAI-PROFILE-011", 400,
		"Please choose a valid language, such as ja-JP or en-US.",
		"言語を正しく選んでください（例: ja-JP、en-US）。")
	ProfileZoneinfoInvalid = def("KAI-PROFILE-012", 400,
		"Please choose a valid time zone, such as Asia/Tokyo.",
		"タイムゾーンを正しく選んでください（例: Asia/Tokyo）。")
	ProfileRequired = def("KAI-PROFILE-013", 400,
		"This field is required.",
		"この項目は必須です。")
)

// Two-step verification (internal/mfa): authenticator apps and recovery
// codes.
var (
	MFACodeMalformed = def("KAI-MFA-001", 400,
		"Please enter the 6-digit code shown in your authenticator app.",
		"認証アプリに表示されている6桁のコードを入力してください。")
	MFACodeWrong = def("KAI-MFA-002", 401,
		"The code is incorrect or has already been used. Please wait for the next code and enter it.",
		"コードが正しくないか、すでに使用されています。次のコードが表示されるのを待って入力してください。")
	MFARateLimited = def("KAI-MFA-003", 429,
		"Too many codes entered. Please wait a few minutes and try again.",
		"コードの入力回数が多すぎます。数分待ってから再度お試しください。")
	MFARecoveryMalformed = def("KAI-MFA-004", 400,
		"Please enter a recovery code in the form xxxxx-xxxxx.",
		"リカバリーコードは xxxxx-xxxxx の形式で入力してください。")
	MFARecoveryWrong = def("KAI-MFA-005", 401,
		"This recovery code is incorrect or has already been used.",
		"このリカバリーコードは正しくないか、すでに使用されています。")
	MFAFactorUnknown = def("KAI-MFA-006", 404,
		"This sign-in method does not exist or has been removed. Please open the page again.",
		"この認証方法は存在しないか、削除されています。ページを開き直してください。")
	MFAEnrollExpired = def("KAI-MFA-007", 400,
		"This set-up has expired. Please start again.",
		"設定の有効期限が切れました。最初からやり直してください。")
	MFANotEnrolled = def("KAI-MFA-008", 400,
		"No authenticator app is set up for this account.",
		"このアカウントには認証アプリが設定されていません。")
	ProfilePhoneTaken = def("KAI-PROFILE-014", 400,
		"This phone number cannot be used.",
		"この電話番号は使用できません。")
)

// Passkeys (internal/passkey): WebAuthn registration and sign-in.
var (
	PasskeyFailed = def("KAI-PASSKEY-001", 401,
		"The passkey could not be verified. Please try again.",
		"パスキーを確認できませんでした。もう一度お試しください。")
	PasskeyExpired = def("KAI-PASSKEY-002", 400,
		"This passkey request has expired or was already used. Please try again.",
		"このパスキーの要求は有効期限が切れたか、すでに使用されています。もう一度お試しください。")
	PasskeyRateLimited = def("KAI-PASSKEY-003", 429,
		"Too many passkey attempts. Please wait a while and try again.",
		"パスキーの試行回数が多すぎます。しばらく待ってから再度お試しください。")
	PasskeyCloned = def("KAI-PASSKEY-004", 401,
		"This passkey may have been copied and was refused. Please sign in another way and check your passkeys.",
		"このパスキーは複製された可能性があるため拒否されました。別の方法でログインし、パスキーを確認してください。")
	PasskeyUnknown = def("KAI-PASSKEY-005", 401,
		"This passkey is not registered with any account. It may have been removed.",
		"このパスキーはどのアカウントにも登録されていません。削除された可能性があります。")
	PasskeyNameInvalid = def("KAI-PASSKEY-006", 400,
		"Please give the passkey a name of at most %d characters.",
		"パスキーの名前は%d文字以内にしてください。")
	PasskeyExists = def("KAI-PASSKEY-007", 409,
		"This passkey is already registered.",
		"このパスキーはすでに登録されています。")
	PasskeyNone = def("KAI-PASSKEY-008", 400,
		"No passkey is set up for this account.",
		"このアカウントにはパスキーが設定されていません。")
	MFARequired = def("KAI-MFA-009", 403,
		"%s requires two-step verification. Set up an authenticator app or a passkey on your account page, then sign in to the service again.",
		"%sを利用するには2段階認証が必要です。アカウントページで認証アプリまたはパスキーを設定してから、もう一度サービスにログインしてください。")
)
