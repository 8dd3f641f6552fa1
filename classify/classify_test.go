package classify_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

func defaultMatcher(t testing.TB) *classify.Matcher {
	t.Helper()
	m, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNormalizeApp(t *testing.T) {
	for in, want := range map[string]string{
		"Xcode 15":                             "xcode 15",
		"  Google   Chrome ":                   "google chrome",
		"Visual_Studio\tCode":                  "visual studio code",
		"Slack.app":                            "slack",
		"Code.exe":                             "code",
		"zoom.us":                              "zoom.us",
		"카카오톡":                                 "카카오톡",
		"\u1112\u1161\u11ab\u1100\u1173\u11af": "한글", // decomposed (NFD) Hangul
		"WindowManager":                        "windowmanager",
		"v2":                                   "v2",
		"ÉDITEUR":                              "éditeur",
		// A pattern keeps every word its author wrote.
		"Affinity Photo": "affinity photo",
		"Apple Music":    "apple music",
		"Apple TV":       "apple tv",
		"Dota 2":         "dota 2",
		"Microsoft Word": "microsoft word",
	} {
		if got := classify.NormalizeApp(in); got != want {
			t.Errorf("NormalizeApp(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string][2]string{
		"https://GitHub.com/pomocore/X":          {"github.com", "/pomocore/x"},
		"github.com/foo":                         {"github.com", "/foo"},
		"http://user:pw@www.naver.com:8080/x?y":  {"naver.com", "/x"},
		"https://docs.google.com/document/d/1#h": {"docs.google.com", "/document/d/1"},
		"HTTPS://WWW.X.COM.":                     {"x.com", ""},
		"https://네이버.한국/검색":                      {"네이버.한국", "/검색"},
		"https://[::1]:8080/a":                   {"[::1]", "/a"},
		"":                                       {"", ""},
	} {
		h, p := classify.Host(in)
		if h != want[0] || p != want[1] {
			t.Errorf("Host(%q) = %q %q, want %q %q", in, h, p, want[0], want[1])
		}
	}
}

func TestDefaultPatternsClassify(t *testing.T) {
	m := defaultMatcher(t)
	for _, c := range []struct{ app, url, title, cat string }{
		{"Xcode 15", "", "", "Development"},
		{"Xcode", "", "", "Development"},
		{"Visual Studio Code - Insiders", "", "", "Development"},
		{"IntelliJ IDEA 2025.2", "", "", "Development"},
		{"PyCharm Community Edition", "", "", "Development"},
		{"Google Chrome", "https://GitHub.com/pomocore", "", "Development"},
		{"Google Chrome", "https://linux.com/news", "", "Uncategorized"},
		{"Google Chrome", "https://www.fedex.com/track", "", "Uncategorized"},
		{"Safari", "https://x.com/home", "", "SNS"},
		{"Safari", "https://mobile.x.com/home", "", "SNS"},
		{"Safari", "https://www.netflix.com/browse", "", "Entertainment"},
		{"Safari", "https://www.youtube.com/watch?v=1", "", "Entertainment"},
		{"Safari", "https://music.youtube.com/watch?v=1", "", "Entertainment"},
		{"Chrome", "https://docs.google.com/document/d/1/edit", "", "Documentation"},
		{"Chrome", "https://docs.google.com/spreadsheets/d/1/edit", "", "Documentation"},
		{"Chrome", "https://docs.google.com/presentation/d/1", "", "Documentation"},
		{"Chrome", "https://www.google.com/search?q=go", "", "Browsing"},
		{"Whale", "https://www.naver.com", "", "Browsing"},
		{"Whale", "https://www.coupang.com/vp/products/1", "", "E-commerce & Shopping"},
		{"Arc", "https://velog.io/@someone/post", "", "Development"},
		{"Arc", "https://www.acmicpc.net/problem/1000", "", "Education"},
		{"Arc", "https://blog.naver.com/someone/1", "", "Documentation"},
		{"Google Chrome", "", "", "Browsing"},
		// Production semantics: work chat and mail are Meetings, personal
		// messengers SNS, music Entertainment, audio production Video
		// Editing, launchers and password managers Productivity, notes and
		// slides Documentation.
		{"KakaoTalk", "", "", "SNS"},
		{"카카오톡", "", "", "SNS"},
		{"LINE", "", "", "SNS"},
		{"Telegram", "", "", "SNS"},
		{"WhatsApp", "", "", "SNS"},
		{"Slack", "", "", "Meetings"},
		{"Microsoft Teams", "", "", "Meetings"},
		{"Mail", "", "", "Meetings"},
		{"Microsoft Outlook", "", "", "Meetings"},
		{"zoom.us", "", "", "Meetings"},
		{"Zoom", "", "", "Meetings"},
		{"Spotify", "", "", "Entertainment"},
		{"Melon", "", "", "Entertainment"},
		{"Apple Music", "", "", "Entertainment"},
		{"Music", "", "", "Entertainment"},
		{"Logic Pro", "", "", "Video Editing"},
		{"GarageBand", "", "", "Video Editing"},
		{"Raycast", "", "", "Productivity"},
		{"Alfred 5", "", "", "Productivity"},
		{"1Password 8", "", "", "Productivity"},
		{"Notion", "", "", "Documentation"},
		{"Keynote", "", "", "Documentation"},
		{"Microsoft PowerPoint", "", "", "Documentation"},
		{"한컴오피스 한글 2022", "", "", "Documentation"},
		{"Adobe Photoshop 2025", "", "", "Design"},
		{"Figma", "", "", "Design"},
		{"Photo Booth", "", "", "Entertainment"}, // not Design: "affinity photo" is not "photo"
		{"Steam", "", "", "Game"},
		{"League of Legends", "", "", "Game"},
		{"Dota 2", "", "", "Game"},
		{"loginwindow", "", "", "AFK"},
		{"loginwindow", "loginwindow", "", "AFK"},
		{"", "afk", "", "AFK"},
		{"Google Chrome", "https://kafka.apache.org/documentation/", "", "Development"},
		{"SecurityAgent", "", "", "Uncategorized"},
		{"WindowManager", "", "", "System & Utilities"},
		{"ChatGPT", "", "", "LLM"},
		{"Google Chrome", "https://chatgpt.com/c/1", "", "LLM"},
		{"Finder", "", "", "File Management"},
		{"Codebase Tool", "", "", "Uncategorized"},
		{"Totally Unknown", "https://unknown-site.example/", "", "Uncategorized"},
		{"Slack", "https://unknown-site.example/", "", "Meetings"},
	} {
		got := m.Classify(c.app, c.url, c.title)
		if got.Category != c.cat {
			t.Errorf("Classify(%q, %q) = %+v, want %s", c.app, c.url, got, c.cat)
		}
	}
	if got := m.Classify("Xcode", "", ""); got.Source != pomocore.SourceApp {
		t.Errorf("source = %s, want app", got.Source)
	}
	if got := m.Classify("Chrome", "https://github.com", ""); got.Source != pomocore.SourceDomain {
		t.Errorf("source = %s, want domain", got.Source)
	}
	if got := m.Classify("?", "", ""); got.Source != pomocore.SourceDefault {
		t.Errorf("source = %s, want default", got.Source)
	}
}

func TestPrecedence(t *testing.T) {
	m, err := classify.Build([]pomocore.CategoryPattern{
		{Category: "Development", AppPatterns: []string{"code", "terminal"}, DomainPatterns: []string{"google.com/devtools"}},
		{Category: "Browsing", AppPatterns: []string{"chrome"}, DomainPatterns: []string{"google.com"}},
		{Category: "Documentation", DomainPatterns: []string{"docs.google.com"}},
		{Category: "Productivity", DomainPatterns: []string{"docs.google.com/spreadsheets"}},
		{Category: "SNS", Priority: 5, DomainPatterns: []string{"sns.example.com"}, AppPatterns: []string{"chatty"}},
		{Category: "Game", Priority: 9, AppPatterns: []string{"terminal game"}},
	}, "Uncategorized")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ app, url, cat string }{
		{"Chrome", "https://docs.google.com/spreadsheets/d", "Productivity"}, // path > subdomain
		{"Chrome", "https://docs.google.com/document", "Documentation"},      // subdomain > domain
		{"Chrome", "https://mail.google.com", "Browsing"},                    // parent domain
		{"Chrome", "https://google.com/devtools/x", "Development"},           // path on the parent
		{"Chrome", "https://google.com/devtoolsx", "Browsing"},               // segment boundary
		{"Code", "https://google.com", "Browsing"},                           // domain > app
		{"Chatty", "https://google.com", "SNS"},                              // priority > specificity
		{"Terminal Game", "", "Game"},                                        // longest app, and priority
		{"Terminal", "", "Development"},
		{"Chrome", "https://nowhere.example", "Uncategorized"}, // a browser never decides with a URL
	} {
		if got := m.Classify(c.app, c.url, ""); got.Category != c.cat {
			t.Errorf("Classify(%q, %q) = %s, want %s", c.app, c.url, got.Category, c.cat)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, ps := range [][]pomocore.CategoryPattern{
		{{Category: "", AppPatterns: []string{"x"}}},
		{{Category: "A", AppPatterns: []string{"  "}}},
		{{Category: "A", DomainPatterns: []string{"/only/path"}}},
		{{Category: "A", DomainPatterns: []string{"  "}}},
	} {
		if _, err := classify.Build(ps, "U"); err == nil {
			t.Errorf("%+v built", ps)
		}
	}
	// The same pattern at a higher priority overrides, whatever the order.
	for _, ps := range [][]pomocore.CategoryPattern{
		{{Category: "A", AppPatterns: []string{"x"}}, {Category: "B", Priority: 1, AppPatterns: []string{"x"}}},
		{{Category: "B", Priority: 1, AppPatterns: []string{"x"}}, {Category: "A", AppPatterns: []string{"X"}}},
	} {
		m, err := classify.Build(ps, "U")
		if err != nil || m.Classify("x", "", "").Category != "B" || len(m.Conflicts()) != 0 {
			t.Errorf("priority override: %v", err)
		}
	}
	if m, err := classify.Build(nil, "U"); err != nil || m.Classify("x", "https://a.com", "").Category != "U" {
		t.Errorf("empty matcher: %v", err)
	}
}

// A pattern in two documents at the same priority goes to the document
// loaded later, as the deployed classifier did, and is reported once.
func TestConflictsGoToTheLaterDocument(t *testing.T) {
	m, err := classify.Build([]pomocore.CategoryPattern{
		{Category: "Productivity", AppPatterns: []string{"finder", "keep"}, DomainPatterns: []string{"a.com", "b.com/x"}},
		{Category: "File Management", AppPatterns: []string{"Finder", "Finder"}, DomainPatterns: []string{"A.com", "www.b.com/x/"}},
		{Category: "Productivity", AppPatterns: []string{"keep"}},
		{Category: "Game", AppPatterns: []string{"chess"}},
		{Category: "System & Utilities", AppPatterns: []string{"chess"}},
		{Category: "Game", AppPatterns: []string{"chess"}},
		{Category: "Education", Priority: 2, AppPatterns: []string{"chess"}},
	}, "U")
	if err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]string{"Finder": "File Management", "keep": "Productivity", "Chess": "Education"} {
		if got := m.Classify(app, "", "").Category; got != want {
			t.Errorf("%s = %s, want %s", app, got, want)
		}
	}
	for url, want := range map[string]string{"https://a.com/": "File Management", "https://b.com/x/1": "File Management"} {
		if got := m.Classify("", url, "").Category; got != want {
			t.Errorf("%s = %s, want %s", url, got, want)
		}
	}
	got := m.Conflicts()
	want := []classify.Conflict{
		{Kind: "app", Pattern: "finder", Categories: []string{"Productivity", "File Management"}},
		{Kind: "domain", Pattern: "a.com", Categories: []string{"Productivity", "File Management"}},
		{Kind: "domain", Pattern: "b.com/x", Categories: []string{"Productivity", "File Management"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("conflicts = %v, want %v", got, want)
	}
	if s := got[0].String(); s != `app "finder" in Productivity, File Management: File Management wins` || got[0].Winner() != "File Management" {
		t.Errorf("String = %q", s)
	}
	got[0].Categories[0] = "changed"
	if m.Conflicts()[0].Categories[0] != "Productivity" {
		t.Error("Conflicts shares its slices with the matcher")
	}
	// Three claimants: the last wins, each named once in load order.
	m, _ = classify.Build([]pomocore.CategoryPattern{
		{Category: "A", AppPatterns: []string{"x"}}, {Category: "B", AppPatterns: []string{"x"}},
		{Category: "A", AppPatterns: []string{"x"}}, {Category: "C", AppPatterns: []string{"x"}},
	}, "U")
	if c := m.Conflicts(); len(c) != 1 || fmt.Sprint(c[0].Categories) != "[B A C]" || m.Classify("x", "", "").Category != "C" {
		t.Errorf("three claimants: %v", c)
	}
}

func TestDefaultPatternsCoverTheTaxonomy(t *testing.T) {
	ps := classify.DefaultPatterns()
	tax := pomocore.DefaultTaxonomy()
	seen := map[string]bool{}
	apps, domains := 0, 0
	for _, p := range ps {
		if !tax.Has(p.Category) {
			t.Errorf("pattern category %q not in the taxonomy", p.Category)
		}
		if seen[p.Category] {
			t.Errorf("category %q twice", p.Category)
		}
		seen[p.Category] = true
		apps += len(p.AppPatterns)
		domains += len(p.DomainPatterns)
	}
	for _, c := range tax.Categories {
		if !seen[c] {
			t.Errorf("category %q has no pattern document", c)
		}
	}
	m := defaultMatcher(t)
	if c := m.Conflicts(); len(c) != 0 {
		t.Errorf("the built-in set claims patterns twice: %v", c)
	}
	a, d := m.Stats()
	t.Logf("default patterns: %d app names (%d distinct normalised), %d domains (%d distinct)", apps, a, domains, d)
	if apps < 1500 || domains < 1500 {
		t.Errorf("default set has %d apps and %d domains; want >= 1500 and >= 1500", apps, domains)
	}
}

func TestZeroAllocsAndConcurrency(t *testing.T) {
	m := defaultMatcher(t)
	for _, c := range [][3]string{
		{"Xcode 15", "", ""}, {"Google Chrome", "https://github.com/a/b", ""}, {"Nothing Here", "https://nothing.example/x", ""},
		{"Adobe Zzz 2025", "", ""}, {"카카오톡", "", ""}, {"Chrome", "https://nothing.example/a/swagger-ui/index.html", ""},
		{"", "afk", ""},
	} {
		if n := testing.AllocsPerRun(100, func() { m.Classify(c[0], c[1], c[2]) }); n != 0 {
			t.Errorf("Classify%q allocates %v times", c, n)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if m.Classify("Xcode", "", "").Category != "Development" {
					t.Error("concurrent classify differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkClassifyAppHit(b *testing.B) {
	m := defaultMatcher(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("Xcode 15", "", "main.go")
	}
}

func BenchmarkClassifyDomainHit(b *testing.B) {
	m := defaultMatcher(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("Google Chrome", "https://github.com/pomocore/pipeline/pull/1", "PR")
	}
}

func BenchmarkClassifyMiss(b *testing.B) {
	m := defaultMatcher(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("Some Unknown App", "https://unknown.example.org/page", "t")
	}
}

func BenchmarkBuild10k(b *testing.B) {
	var ps []pomocore.CategoryPattern
	for c := 0; c < 20; c++ {
		p := pomocore.CategoryPattern{Category: fmt.Sprintf("C%d", c)}
		for i := 0; i < 250; i++ {
			p.AppPatterns = append(p.AppPatterns, fmt.Sprintf("app %d %d tool", c, i))
			p.DomainPatterns = append(p.DomainPatterns, fmt.Sprintf("site%d-%d.example%d.com", i, c, i%7))
		}
		ps = append(ps, p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := classify.Build(ps, "U"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTitleRules(t *testing.T) {
	m, err := classify.Build([]pomocore.CategoryPattern{
		{Category: "Entertainment", DomainPatterns: []string{"youtube.com"}},
		{Category: "Education", TitleRules: []pomocore.TitleRule{{Scope: "youtube.com", Keywords: []string{"Lecture", "강의"}}}},
		{Category: "Meetings", AppPatterns: []string{"Microsoft Teams"}},
		{Category: "SNS", TitleRules: []pomocore.TitleRule{{Scope: "app:Microsoft Teams", Keywords: []string{"chat"}}}},
		{Category: "Entertainment", TitleRules: []pomocore.TitleRule{{Scope: "app:Obscure Player", Keywords: []string{"song"}}}},
	}, "Uncategorized")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		app, url, title, cat string
		src                  pomocore.Source
	}{
		{"Chrome", "https://www.youtube.com/watch?v=1", "MIT LECTURE 1", "Education", pomocore.SourceTitle},
		{"Chrome", "https://m.youtube.com/watch?v=1", "운영체제 강의 3강", "Education", pomocore.SourceTitle},
		{"Chrome", "https://www.youtube.com/watch?v=1", "cats", "Entertainment", pomocore.SourceDomain},
		{"Microsoft Teams", "", "Chat | Microsoft Teams", "SNS", pomocore.SourceTitle},
		{"Microsoft Teams", "", "Weekly sync | Microsoft Teams", "Meetings", pomocore.SourceApp},
		{"Obscure Player", "", "a song", "Entertainment", pomocore.SourceTitle},
		{"Obscure Player", "", "a podcast", "Uncategorized", pomocore.SourceDefault},
	} {
		got := m.Classify(c.app, c.url, c.title)
		if got.Category != c.cat || got.Source != c.src {
			t.Errorf("Classify(%q, %q, %q) = %+v, want %s/%s", c.app, c.url, c.title, got, c.cat, c.src)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.Classify("Chrome", "https://www.youtube.com/watch?v=1", "MIT LECTURE 1") }); n != 0 {
		t.Errorf("title rule path allocates %v times", n)
	}
	for _, bad := range []pomocore.TitleRule{{Scope: "youtube.com"}, {Scope: "app:", Keywords: []string{"x"}}, {Scope: "/", Keywords: []string{"x"}}} {
		if _, err := classify.Build([]pomocore.CategoryPattern{{Category: "A", TitleRules: []pomocore.TitleRule{bad}}}, "U"); err == nil {
			t.Errorf("title rule %+v built", bad)
		}
	}
}

func TestInternationalisedDomains(t *testing.T) {
	m, err := classify.Build([]pomocore.CategoryPattern{
		{Category: "Browsing", DomainPatterns: []string{"네이버.한국"}},
		{Category: "E-commerce & Shopping", DomainPatterns: []string{"xn--9t4b11yi5a.com"}}, // 테스트.com
	}, "Uncategorized")
	if err != nil {
		t.Fatal(err)
	}
	for url, want := range map[string]string{
		"https://네이버.한국/검색":                    "Browsing",
		"https://xn--950bt9s8xi.xn--3e0b707e/": "Browsing", // the same host in punycode
		"https://www.테스트.com/":                 "E-commerce & Shopping",
		"https://shop.xn--9t4b11yi5a.com/x":    "E-commerce & Shopping",
	} {
		if got := m.Classify("Chrome", url, ""); got.Category != want {
			t.Errorf("%s = %s, want %s", url, got.Category, want)
		}
	}
}

func BenchmarkClassifyTitleRule(b *testing.B) {
	m := defaultMatcher(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("Safari", "https://www.youtube.com/watch?v=x", "MIT 6.006 Lecture 1: Algorithms - YouTube")
	}
}
