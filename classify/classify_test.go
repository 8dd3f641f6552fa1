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
		"Xcode 15":                      "xcode",
		"Adobe Photoshop 2025":          "photoshop",
		"IntelliJ IDEA 2024.2.1":        "intellij idea",
		"IntelliJ IDEA Ultimate":        "intellij idea",
		"PyCharm Community Edition":     "pycharm",
		"Visual Studio Code - Insiders": "visual studio code",
		"  Google   Chrome ":            "google chrome",
		"Slack.app":                     "slack",
		"Code.exe":                      "code",
		"카카오톡":                          "카카오톡",
		"한컴오피스 한글 2022":                 "한컴오피스 한글",
		"Microsoft Word":                "word",
		"v2":                            "v2",
		"Final Cut Pro":                 "final cut pro",
		"ÉDITEUR":                       "éditeur",
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
		{"Google Chrome", "https://GitHub.com/pomocore", "", "Development"},
		{"Google Chrome", "https://linux.com/news", "", "Uncategorized"},
		{"Google Chrome", "https://www.fedex.com/track", "", "Uncategorized"},
		{"Safari", "https://x.com/home", "", "SNS"},
		{"Safari", "https://mobile.x.com/home", "", "SNS"},
		{"Safari", "https://www.youtube.com/watch?v=1", "", "Entertainment"},
		{"Safari", "https://music.youtube.com/watch?v=1", "", "Music"},
		{"Chrome", "https://docs.google.com/document/d/1/edit", "", "Documentation"},
		{"Chrome", "https://docs.google.com/spreadsheets/d/1/edit", "", "Productivity"},
		{"Chrome", "https://docs.google.com/presentation/d/1", "", "Productivity"},
		{"Whale", "https://www.naver.com", "", "Browsing"},
		{"Whale", "https://www.coupang.com/vp/products/1", "", "E-commerce & Shopping"},
		{"Arc", "https://velog.io/@someone/post", "", "Development"},
		{"Google Chrome", "", "", "Browsing"},
		{"KakaoTalk", "", "", "Communication"},
		{"카카오톡", "", "", "Communication"},
		{"한컴오피스 한글 2022", "", "", "Documentation"},
		{"Adobe Photoshop 2025", "", "", "Design"},
		{"Figma", "", "", "Design"},
		{"zoom.us", "", "", "Meetings"},
		{"Steam", "", "", "Game"},
		{"League of Legends", "", "", "Game"},
		{"Spotify", "", "", "Music"},
		{"loginwindow", "", "", "AFK"},
		{"ChatGPT", "", "", "LLM"},
		{"Google Chrome", "https://chatgpt.com/c/1", "", "LLM"},
		{"Finder", "", "", "File Management"},
		{"Codebase Tool", "", "", "Uncategorized"},
		{"Totally Unknown", "https://unknown-site.example/", "", "Uncategorized"},
		{"Slack", "https://unknown-site.example/", "", "Communication"},
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
		{{Category: "A", AppPatterns: []string{"Xcode"}}, {Category: "B", AppPatterns: []string{"xcode 15"}}},
		{{Category: "A", DomainPatterns: []string{"a.com"}}, {Category: "B", DomainPatterns: []string{"A.com"}}},
	} {
		if _, err := classify.Build(ps, "U"); err == nil {
			t.Errorf("%+v built", ps)
		}
	}
	// The same pattern at a higher priority overrides without error.
	m, err := classify.Build([]pomocore.CategoryPattern{
		{Category: "A", AppPatterns: []string{"x"}}, {Category: "B", Priority: 1, AppPatterns: []string{"x"}},
	}, "U")
	if err != nil || m.Classify("x", "", "").Category != "B" {
		t.Errorf("priority override: %v", err)
	}
	if m, err := classify.Build(nil, "U"); err != nil || m.Classify("x", "https://a.com", "").Category != "U" {
		t.Errorf("empty matcher: %v", err)
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
	a, d := m.Stats()
	t.Logf("default patterns: %d app names (%d distinct normalised), %d domains (%d distinct)", apps, a, domains, d)
	if apps < 600 || domains < 1500 {
		t.Errorf("default set has %d apps and %d domains; want >= 600 and >= 1500", apps, domains)
	}
}

func TestZeroAllocsAndConcurrency(t *testing.T) {
	m := defaultMatcher(t)
	for _, c := range [][3]string{
		{"Xcode 15", "", ""}, {"Google Chrome", "https://github.com/a/b", ""}, {"Nothing Here", "https://nothing.example/x", ""},
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
		{Category: "Communication", TitleRules: []pomocore.TitleRule{{Scope: "app:Microsoft Teams", Keywords: []string{"chat"}}}},
		{Category: "Music", TitleRules: []pomocore.TitleRule{{Scope: "app:Obscure Player", Keywords: []string{"song"}}}},
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
		{"Microsoft Teams", "", "Chat | Microsoft Teams", "Communication", pomocore.SourceTitle},
		{"Microsoft Teams", "", "Weekly sync | Microsoft Teams", "Meetings", pomocore.SourceApp},
		{"Obscure Player", "", "a song", "Music", pomocore.SourceTitle},
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
