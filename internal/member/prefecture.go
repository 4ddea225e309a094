package member

import (
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Prefecture is one of Japan's 47 prefectures.
type Prefecture struct {
	Code string // JIS X 0401 / ISO 3166-2:JP number, "01"…"47"
	JA   string // canonical, stored in Address.Region: "東京都"
	EN   string // "Tokyo"
}

// ISO is the ISO 3166-2 code ("JP-13").
func (p Prefecture) ISO() string { return "JP-" + p.Code }

// Name returns the name in lang ("ja" or anything else for English).
func (p Prefecture) Name(lang string) string {
	if lang == "ja" {
		return p.JA
	}
	return p.EN
}

// I18nKey is the key of the prefecture's name in messages.json.
func (p Prefecture) I18nKey() string { return "prefecture." + p.Code }

var prefectures = [47]Prefecture{
	{"01", "北海道", "Hokkaido"}, {"02", "青森県", "Aomori"}, {"03", "岩手県", "Iwate"},
	{"04", "宮城県", "Miyagi"}, {"05", "秋田県", "Akita"}, {"06", "山形県", "Yamagata"},
	{"07", "福島県", "Fukushima"}, {"08", "茨城県", "Ibaraki"}, {"09", "栃木県", "Tochigi"},
	{"10", "群馬県", "Gunma"}, {"11", "埼玉県", "Saitama"}, {"12", "千葉県", "Chiba"},
	{"13", "東京都", "Tokyo"}, {"14", "神奈川県", "Kanagawa"}, {"15", "新潟県", "Niigata"},
	{"16", "富山県", "Toyama"}, {"17", "石川県", "Ishikawa"}, {"18", "福井県", "Fukui"},
	{"19", "山梨県", "Yamanashi"}, {"20", "長野県", "Nagano"}, {"21", "岐阜県", "Gifu"},
	{"22", "静岡県", "Shizuoka"}, {"23", "愛知県", "Aichi"}, {"24", "三重県", "Mie"},
	{"25", "滋賀県", "Shiga"}, {"26", "京都府", "Kyoto"}, {"27", "大阪府", "Osaka"},
	{"28", "兵庫県", "Hyogo"}, {"29", "奈良県", "Nara"}, {"30", "和歌山県", "Wakayama"},
	{"31", "鳥取県", "Tottori"}, {"32", "島根県", "Shimane"}, {"33", "岡山県", "Okayama"},
	{"34", "広島県", "Hiroshima"}, {"35", "山口県", "Yamaguchi"}, {"36", "徳島県", "Tokushima"},
	{"37", "香川県", "Kagawa"}, {"38", "愛媛県", "Ehime"}, {"39", "高知県", "Kochi"},
	{"40", "福岡県", "Fukuoka"}, {"41", "佐賀県", "Saga"}, {"42", "長崎県", "Nagasaki"},
	{"43", "熊本県", "Kumamoto"}, {"44", "大分県", "Oita"}, {"45", "宮崎県", "Miyazaki"},
	{"46", "鹿児島県", "Kagoshima"}, {"47", "沖縄県", "Okinawa"},
}

// Prefectures returns the 47 prefectures in JIS order (north to south),
// the order of a form's select.
func Prefectures() []Prefecture {
	out := make([]Prefecture, len(prefectures))
	copy(out, prefectures[:])
	return out
}

// prefectureIndex maps every accepted spelling, folded by prefectureKey,
// to its prefecture.
var prefectureIndex = func() map[string]int {
	m := map[string]int{}
	add := func(k string, i int) {
		if j, dup := m[k]; dup && j != i {
			panic("member: prefecture key " + k + " is ambiguous")
		}
		m[k] = i
	}
	for i, p := range prefectures {
		add(p.JA, i)
		for _, suf := range []string{"都", "府", "県"} {
			if short, ok := strings.CutSuffix(p.JA, suf); ok {
				add(short, i) // 東京, 京都, 神奈川; 北海道 has no short form
			}
		}
		add(romanKey(p.EN), i)
		add(p.Code, i)
	}
	add("gumma", 9) // old Hepburn spelling of Gunma
	return m
}()

// LookupPrefecture finds a prefecture by any of the names people write:
// "東京都", "東京", "Tokyo", "TOKYO", "Tōkyō", "Toukyou", "tokyo-to",
// "Tokyo Metropolis", "Osaka-fu", "Aichi Prefecture", "13" or "JP-13".
func LookupPrefecture(s string) (Prefecture, bool) {
	s = strings.TrimSpace(norm.NFKC.String(s))
	if len(s) > 64 {
		return Prefecture{}, false
	}
	solid := strings.ReplaceAll(s, " ", "")
	if i, ok := prefectureIndex[solid]; ok {
		return prefectures[i], true
	}
	code, _ := strings.CutPrefix(strings.ToUpper(solid), "JP-")
	if n, err := strconv.Atoi(code); err == nil && n >= 1 && n <= 47 && len(code) <= 2 {
		return prefectures[n-1], true
	}
	for _, k := range romanCandidates(s) {
		if i, ok := prefectureIndex[k]; ok {
			return prefectures[i], true
		}
	}
	return Prefecture{}, false
}

// romanCandidates returns the keys a romanised name may match: the whole,
// then without a trailing "-to", "-ken", " Prefecture"… word, then without
// such an ending written solidly ("aichiken").
func romanCandidates(s string) []string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == '-' || r == '_' || r == '.' || r == ' ' || r == ','
	})
	if len(words) == 0 {
		return nil
	}
	whole := romanKey(strings.Join(words, ""))
	out := []string{whole}
	for len(words) > 1 && suffixWord[words[len(words)-1]] {
		words = words[:len(words)-1]
	}
	out = append(out, romanKey(strings.Join(words, "")))
	for _, suf := range []string{"ken", "fu", "to"} {
		if k, ok := strings.CutSuffix(whole, suf); ok {
			out = append(out, k)
		}
	}
	return out
}

var suffixWord = map[string]bool{
	"to": true, "do": true, "fu": true, "ken": true,
	"prefecture": true, "pref": true, "prefectural": true,
	"metropolis": true, "metropolitan": true, "government": true,
}

// romanKey folds a romanised name: lower case, no macrons or circumflexes,
// and the long vowels of wāpuro spelling shortened ("toukyou", "oosaka").
// No two prefectures fold to the same key (the index panics otherwise).
func romanKey(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		switch r {
		case 'ā', 'â':
			return 'a'
		case 'ī', 'î':
			return 'i'
		case 'ū', 'û':
			return 'u'
		case 'ē', 'ê':
			return 'e'
		case 'ō', 'ô':
			return 'o'
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, "ou", "o")
	s = strings.ReplaceAll(s, "oo", "o")
	s = strings.ReplaceAll(s, "uu", "u")
	return s
}
