// Package browsertest drives the member pages of a whole Kaiin node in a
// real headless Chromium, through github.com/chromedp/chromedp: the forms,
// links and buttons a person uses, in English and in Japanese, on a phone
// sized screen and with JavaScript turned off.
//
// The tests need Chromium (the CHROMIUM environment variable, Debian's
// /usr/bin/chromium, or chromium on PATH) and, for the PostgreSQL and Redis
// run, the local test services; scripts/test-services installs and starts
// all of them. Set KAIIN_SCREENSHOT_DIR to keep screenshots of the pages.
//
// The package holds only tests.
package browsertest
