package classify_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// productionFile is the main server's category-patterns.json (commit of
// 2025-10-20), copied from ../shared/ref so that the tests need only the
// repository.
var productionFile = filepath.Join("..", "testdata", "main-server-category-patterns.json")

func productionPatterns(t testing.TB) []pomocore.CategoryPattern {
	t.Helper()
	b, err := os.ReadFile(productionFile)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := classify.ParsePatterns(b)
	if err != nil {
		t.Fatalf("the main server's file does not parse: %v", err)
	}
	return ps
}

// productionWinners returns every production pattern with the category it
// must classify to: its document's, or for a pattern in two documents the
// later one's (the deployed classifier inserted the documents in order, the
// later overwriting).
func productionWinners(ps []pomocore.CategoryPattern) (apps, domains map[string]string, order [2][]string) {
	apps, domains = map[string]string{}, map[string]string{}
	for _, p := range ps {
		for _, a := range p.AppPatterns {
			if _, ok := apps[a]; !ok {
				order[0] = append(order[0], a)
			}
			apps[a] = p.Category
		}
		for _, d := range p.DomainPatterns {
			if _, ok := domains[d]; !ok {
				order[1] = append(order[1], d)
			}
			domains[d] = p.Category
		}
	}
	return apps, domains, order
}

func TestProductionFileParsesAndBuilds(t *testing.T) {
	ps := productionPatterns(t)
	if len(ps) != 19 {
		t.Fatalf("%d documents, want 19", len(ps))
	}
	m, err := classify.Build(ps, pomocore.Uncategorized)
	if err != nil {
		t.Fatalf("Build refuses the production patterns: %v", err)
	}
	conflicts := m.Conflicts()
	if len(conflicts) != 20 {
		t.Errorf("%d conflicts, want the 20 app patterns production has in two categories: %v", len(conflicts), conflicts)
	}
	apps, _, _ := productionWinners(ps)
	for _, c := range conflicts {
		if c.Kind != "app" || len(c.Categories) != 2 || apps[c.Pattern] != c.Winner() {
			t.Errorf("conflict %v: want an app pattern going to the later of its two categories (%s)", c, apps[c.Pattern])
		}
	}
	for _, want := range []string{
		`app "finder" in Productivity, File Management: File Management wins`,
		`app "zoom" in Video Editing, Meetings: Meetings wins`,
		`app "discord" in Meetings, SNS: SNS wins`,
		`app "premiere pro" in Design, Video Editing: Video Editing wins`,
	} {
		if !slices.ContainsFunc(conflicts, func(c classify.Conflict) bool { return c.String() == want }) {
			t.Errorf("no conflict %s", want)
		}
	}
}

// Every production pattern classifies to its production category, with the
// production file alone and with the built-in set.
func TestEveryProductionPatternKeepsItsCategory(t *testing.T) {
	ps := productionPatterns(t)
	apps, domains, order := productionWinners(ps)
	for _, set := range []struct {
		name     string
		patterns []pomocore.CategoryPattern
	}{{"production file", ps}, {"built-in set", classify.DefaultPatterns()}} {
		m, err := classify.Build(set.patterns, pomocore.Uncategorized)
		if err != nil {
			t.Fatalf("%s: %v", set.name, err)
		}
		for _, a := range order[0] {
			for _, app := range []string{a, strings.ToUpper(a), " " + a + " "} {
				if got := m.Classify(app, "", ""); got.Category != apps[a] || got.Source != pomocore.SourceApp {
					t.Errorf("%s: app %q = %+v, want %s", set.name, app, got, apps[a])
				}
			}
		}
		for _, d := range order[1] {
			for _, url := range []string{"https://" + d, "https://www." + d + "/", d} {
				if got := m.Classify("Google Chrome", url, ""); got.Category != domains[d] || got.Source != pomocore.SourceDomain {
					t.Errorf("%s: url %q = %+v, want %s", set.name, url, got, domains[d])
				}
			}
		}
	}
}

// The built-in set holds every production pattern in the category it
// classifies to there: a superset, without the second copies of the twenty.
func TestBuiltInSetIsASupersetOfProduction(t *testing.T) {
	apps, domains, _ := productionWinners(productionPatterns(t))
	builtin := map[string]string{}
	for _, p := range classify.DefaultPatterns() {
		for _, a := range p.AppPatterns {
			builtin["app "+classify.NormalizeApp(a)] = p.Category
		}
		for _, d := range p.DomainPatterns {
			h, path := classify.Host(d)
			builtin["domain "+h+strings.TrimRight(path, "/")] = p.Category
		}
	}
	for a, c := range apps {
		if got := builtin["app "+classify.NormalizeApp(a)]; got != c {
			t.Errorf("built-in app pattern %q is in %q, want %q", a, got, c)
		}
	}
	for d, c := range domains {
		if got := builtin["domain "+d]; got != c {
			t.Errorf("built-in domain pattern %q is in %q, want %q", d, got, c)
		}
	}
}

// The default taxonomy and the built-in set have production's 19
// categories, in the built-in set in production's document order.
func TestCategoriesAreProductions(t *testing.T) {
	var prod []string
	for _, p := range productionPatterns(t) {
		prod = append(prod, p.Category)
	}
	var builtin []string
	for _, p := range classify.DefaultPatterns() {
		builtin = append(builtin, p.Category)
	}
	if !slices.Equal(builtin, prod) {
		t.Errorf("built-in categories %q, want production's %q", builtin, prod)
	}
	tax := pomocore.DefaultTaxonomy()
	if got := slices.Sorted(slices.Values(tax.Categories)); !slices.Equal(got, slices.Sorted(slices.Values(prod))) {
		t.Errorf("taxonomy %q, want production's %q", tax.Categories, prod)
	}
	work := []string{"Development", "LLM", "Documentation", "Design", "Video Editing", "Education", "Productivity",
		"Finance", "File Management", "Browsing", "Marketing", "System & Utilities", "Meetings"}
	if !slices.Equal(slices.Sorted(slices.Values(tax.Work)), slices.Sorted(slices.Values(work))) || tax.Default != "Uncategorized" {
		t.Errorf("work %q default %q, want %q and Uncategorized", tax.Work, tax.Default, work)
	}
}

// Normalisation never shrinks a pattern to a word its author did not write
// alone; vendors and versions are dropped from the activity only.
func TestAppPatternsKeepTheirWords(t *testing.T) {
	m, err := classify.Build([]pomocore.CategoryPattern{
		{Category: "Design", AppPatterns: []string{"affinity photo", "photoshop", "adobe xd"}},
		{Category: "Entertainment", AppPatterns: []string{"apple music", "apple tv"}},
		{Category: "Game", AppPatterns: []string{"dota 2", "counter-strike 2"}},
		{Category: "Development", AppPatterns: []string{"intellij idea", "xcode", "visual studio code"}},
		{Category: "System & Utilities", AppPatterns: []string{"WindowManager", "dupeGuru"}},
	}, "Uncategorized")
	if err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]string{
		"Photo Booth":                   "Uncategorized", // was Design: "affinity photo" normalised to "photo"
		"Photos":                        "Uncategorized",
		"Affinity Photo":                "Design",
		"Affinity Photo 2":              "Design",
		"Music":                         "Uncategorized", // was Entertainment: "apple music" -> "music"
		"Apple Music":                   "Entertainment",
		"TV":                            "Uncategorized", // was Entertainment: "apple tv" -> "tv"
		"Apple TV":                      "Entertainment",
		"Dota 2":                        "Game",
		"DOTA 2":                        "Game",
		"Dota Underlords":               "Uncategorized", // was Game: "dota 2" -> "dota"
		"Counter-Strike 2":              "Game",
		"Adobe Photoshop 2025":          "Design", // vendor and year dropped from the activity
		"Photoshop":                     "Design",
		"Adobe XD":                      "Design",
		"XD":                            "Uncategorized",
		"IntelliJ IDEA 2025.2":          "Development", // versions: a pattern matches a longer name word by word
		"IntelliJ IDEA Ultimate 2025.2": "Development",
		"Xcode 15":                      "Development",
		"Xcodes":                        "Uncategorized",
		"Visual Studio Code - Insiders": "Development",
		"Visual Studio":                 "Uncategorized",
		"windowmanager":                 "System & Utilities", // capitals in a pattern match case-insensitively
		"WINDOWMANAGER":                 "System & Utilities",
		"dupeguru":                      "System & Utilities",
	} {
		if got := m.Classify(app, "", "").Category; got != want {
			t.Errorf("Classify(%q) = %s, want %s", app, got, want)
		}
	}
}

// Domain patterns match on label and path-segment boundaries, never as
// substrings of the URL (the deployed defect).
func TestDomainPatternBoundaries(t *testing.T) {
	m, err := classify.Build(productionPatterns(t), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ app, url, want string }{
		{"Safari", "https://x.com/home", "SNS"},
		{"Safari", "https://mobile.x.com/home", "SNS"},
		{"Safari", "https://www.netflix.com/browse", "Entertainment"}, // not SNS: x.com is not a label of netflix.com
		{"Safari", "https://www.linux.com/", "Uncategorized"},
		{"Safari", "https://www.google.com/search?q=redis", "Browsing"},
		{"Safari", "https://google.com/search/howsearchworks", "Browsing"},
		{"Safari", "https://www.google.com/searchx", "Uncategorized"},
		{"Safari", "https://www.google.com/maps", "Uncategorized"},
		{"Safari", "https://team.atlassian.net/jira/software/projects/PC", "Productivity"},
		{"Safari", "https://team.atlassian.net/wiki/spaces/X", "Uncategorized"},
		{"Safari", "https://www.samsung.com/pay/", "Finance"},
		{"Safari", "https://web.telegram.org/k/", "SNS"}, // the subdomain over telegram.org (Meetings)
		{"Safari", "https://telegram.org/", "Meetings"},
		// Bare words: the client's idle and lock reports, swagger-ui in a
		// path; never inside a word, never in the query.
		{"", "afk", "AFK"},
		{"", "AFK", "AFK"},
		{"", "loginwindow", "AFK"},
		{"loginwindow", "", "AFK"},
		{"afk", "", "AFK"},
		{"Safari", "https://kafka.apache.org/documentation/", "Uncategorized"},
		{"Safari", "https://blog.example.com/kafka/afk-tuning", "Uncategorized"},
		{"Safari", "https://example.com/search?q=afk", "Uncategorized"},
		{"Safari", "https://api.example.com/swagger-ui/index.html", "Development"},
		{"Safari", "https://api.example.com/v3/Swagger-UI.html", "Development"},
		{"Safari", "https://api.example.com/swagger-uix/", "Uncategorized"},
		{"Safari", "https://github.com/swagger-api/swagger-ui", "Development"},
		{"Safari", "https://www.coupang.com/swagger-ui/", "E-commerce & Shopping"}, // a host outranks a path word
		{"Safari", "https://accounts.example.com/login?redirect_uri=http://localhost:3000", "Uncategorized"},
		{"Safari", "http://localhost:8080/api", "Development"},
		{"Safari", "http://127.0.0.1:5173/", "Development"},
	} {
		if got := m.Classify(c.app, c.url, ""); got.Category != c.want {
			t.Errorf("Classify(%q, %q) = %+v, want %s", c.app, c.url, got, c.want)
		}
	}
}

func TestParsePatternsShapes(t *testing.T) {
	bare := `[{"category":"Game","appPatterns":["Steam"],"domainPatterns":["steampowered.com"]}]`
	wrapped := "\ufeff\n{\"categoryPatterns\": [{\"category\":\"Game\",\"priority\":null,\"color\":\"#fff\",\"appPatterns\":[\"Steam\"],\"domainPatterns\":[\"steampowered.com\"]}]}"
	for _, in := range []string{bare, wrapped} {
		ps, err := classify.ParsePatterns([]byte(in))
		if err != nil || len(ps) != 1 || ps[0].Category != "Game" || ps[0].Priority != 0 ||
			!slices.Equal(ps[0].AppPatterns, []string{"Steam"}) || !slices.Equal(ps[0].DomainPatterns, []string{"steampowered.com"}) {
			t.Errorf("ParsePatterns(%q) = %+v, %v", in, ps, err)
		}
	}
	for _, in := range []string{`{"patterns": []}`, `{"categoryPatterns": {}}`, `[{"category": 1}]`, `nonsense`, ``} {
		if _, err := classify.ParsePatterns([]byte(in)); err == nil {
			t.Errorf("ParsePatterns(%q) succeeded", in)
		}
	}
	// What MarshalPatterns writes reads back.
	out, err := classify.MarshalPatterns(productionPatterns(t))
	if err != nil {
		t.Fatal(err)
	}
	back, err := classify.ParsePatterns(out)
	if err != nil || len(back) != 19 || back[3].Category != "AFK" || !slices.Equal(back[3].DomainPatterns, []string{"afk", "loginwindow"}) {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestRestrict(t *testing.T) {
	tax := pomocore.DefaultTaxonomy()
	usable, missing := classify.Restrict(productionPatterns(t), tax)
	if !slices.Equal(usable, tax.Categories) || len(missing) != 0 {
		t.Errorf("production: usable %q missing %q", usable, missing)
	}
	usable, missing = classify.Restrict([]pomocore.CategoryPattern{
		{Category: "Game"}, {Category: "Uncategorized"}, {Category: "Communication"}, {Category: "SNS"},
	}, tax)
	if !slices.Equal(usable, []string{"SNS", "Game", "Uncategorized"}) || len(missing) != len(tax.Categories)-3 ||
		slices.Contains(missing, "Game") || !slices.Contains(missing, "Development") || slices.Contains(missing, "Communication") {
		t.Errorf("usable %q missing %q", usable, missing)
	}
}

func BenchmarkClassifyProductionAppHit(b *testing.B) {
	m, err := classify.Build(productionPatterns(b), pomocore.Uncategorized)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("IntelliJ IDEA 2025.2", "", "Main.java")
	}
}

func BenchmarkClassifyProductionDomainHit(b *testing.B) {
	m, err := classify.Build(productionPatterns(b), pomocore.Uncategorized)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("Google Chrome", "https://github.com/pomocore/pipeline/pull/1", "PR")
	}
}

func BenchmarkClassifyVendorFallback(b *testing.B) {
	m := defaultMatcher(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Classify("Adobe Zzz Tool 2025", "", "t")
	}
}
