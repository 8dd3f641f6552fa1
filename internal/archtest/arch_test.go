// Package archtest checks that docs/architecture.md states the imports
// `go list` shows: every package has a row, every import of a package is
// one its row allows, every package of ours a row names is imported, and no
// production package imports a test-support package its row does not name.
package archtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pomocore/pomocore"

// thirdParty names each module the doc mentions by the words it uses.
var thirdParty = []struct{ prefix, words string }{
	{"github.com/redis/go-redis/", "go-redis"},
	{"go.mongodb.org/mongo-driver/", "mongo-driver"},
	{"modernc.org/sqlite", "modernc sqlite"},
	{"github.com/prometheus/client_golang/", "prometheus"},
	{"github.com/openai/openai-go/", "openai-go"},
	{"github.com/alicebob/miniredis/", "miniredis"},
	{"github.com/FerretDB/FerretDB/", "FerretDB"},
	{"golang.org/x/text/", "x/text"},
	{"golang.org/x/net/idna", "x/net/idna"},
	{"golang.org/x/net/publicsuffix", "x/net/publicsuffix"},
	{"github.com/tiktoken-go/tokenizer/", "tiktoken-go/tokenizer"},
}

// drivers are what "their drivers" in a row allows.
var drivers = []string{"go-redis", "mongo-driver", "modernc sqlite"}

// corePackages are what "the core packages" in a row allows.
var corePackages = []string{"pomocore", "classify", "pipeline", "learn", "doctor", "compare", "rebuild"}

// row is one package row of the doc's tables.
type row struct {
	line        int
	packages    []string // names as the doc writes them: "pomocore", "internal/app"
	mayImport   string
	testSupport bool
}

var backticked = regexp.MustCompile("`([^`]*)`")

// rows reads the package tables of docs/architecture.md.
func rows(t *testing.T, path string) []row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []row
	testSupport := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "**") {
			testSupport = strings.HasPrefix(line, "**Test support**")
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 3 {
			t.Fatalf("architecture.md:%d: a package row has %d cells, want 3", n, len(cells))
		}
		r := row{line: n, mayImport: cells[2], testSupport: testSupport}
		first := strings.TrimSpace(cells[0])
		if strings.HasPrefix(first, "`.`") {
			r.packages = []string{"pomocore"}
		} else {
			for _, m := range backticked.FindAllStringSubmatch(first, -1) {
				r.packages = append(r.packages, strings.TrimSuffix(m[1], "/"))
			}
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// docName is how the doc names import path p: a package of ours by its path
// in the module ("pomocore" for the root), another module by its words, and
// "" for the standard library.
func docName(p string) string {
	if p == module {
		return "pomocore"
	}
	if rest, ok := strings.CutPrefix(p, module+"/"); ok {
		return rest
	}
	for _, tp := range thirdParty {
		if strings.HasPrefix(p, tp.prefix) || p == strings.TrimSuffix(tp.prefix, "/") {
			return tp.words
		}
	}
	first, _, _ := strings.Cut(p, "/")
	if !strings.Contains(first, ".") {
		return ""
	}
	return p
}

// names returns the packages of ours a may-import cell names in backticks
// (`redis.NewLeaderboards` names redis).
func names(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		name, _, _ := strings.Cut(m[1], ".")
		out = append(out, strings.TrimSuffix(name, "/"))
	}
	return out
}

// allows reports whether row r permits importing the package the doc
// calls name; production holds the names of production packages.
func (r row) allows(name string, ours bool, production map[string]bool) bool {
	if ours {
		if slices.Contains(names(r.mayImport), name) {
			return true
		}
		if strings.Contains(r.mayImport, "every production package") && production[name] {
			return true
		}
		return strings.Contains(r.mayImport, "the core packages") && slices.Contains(corePackages, name)
	}
	if strings.Contains(r.mayImport, "their drivers") && slices.Contains(drivers, name) {
		return true
	}
	return strings.Contains(r.mayImport, name)
}

// imports runs go list over the module and returns each package's
// non-test imports, keyed by the doc's name of the package.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		m[docName(fields[0])] = fields[1:]
	}
	return m
}

func TestArchitectureDocMatchesImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	table := rows(t, filepath.Join(root, "docs", "architecture.md"))
	pkgs := imports(t, root)
	for _, problem := range checkDoc(table, pkgs) {
		t.Error(problem)
	}
}

// checkDoc returns every way table and the imports pkgs disagree.
func checkDoc(table []row, pkgs map[string][]string) []string {
	var problems []string
	errorf := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	byPkg := map[string]row{}
	production := map[string]bool{}
	for _, r := range table {
		for _, p := range r.packages {
			if _, dup := byPkg[p]; dup {
				errorf("architecture.md:%d: package %s has a second row", r.line, p)
			}
			byPkg[p] = r
			if _, exists := pkgs[p]; !exists {
				errorf("architecture.md:%d: package %s does not exist", r.line, p)
			}
			production[p] = !r.testSupport
		}
	}
	used := map[int]map[string]bool{} // row line -> names its packages import
	for pkg, imps := range pkgs {
		r, ok := byPkg[pkg]
		if !ok {
			errorf("package %s has no row in docs/architecture.md", pkg)
			continue
		}
		if used[r.line] == nil {
			used[r.line] = map[string]bool{}
		}
		for _, imp := range imps {
			name := docName(imp)
			if name == "" {
				continue
			}
			used[r.line][name] = true
			_, ours := byPkg[name]
			ours = ours || strings.HasPrefix(imp, module)
			if nr, known := byPkg[name]; production[pkg] && known && nr.testSupport && !slices.Contains(names(r.mayImport), name) {
				errorf("production package %s imports test-support package %s", pkg, name)
				continue
			}
			if !r.allows(name, ours, production) {
				errorf("architecture.md:%d: %s imports %s (%s), which its row does not allow: %q", r.line, pkg, name, imp, r.mayImport)
			}
		}
	}
	for _, r := range table {
		for _, name := range names(r.mayImport) {
			if _, isPkg := byPkg[name]; isPkg && !used[r.line][name] && !slices.Contains(r.packages, name) {
				errorf("architecture.md:%d: the row of %s allows %s, which none of them imports", r.line, strings.Join(r.packages, ", "), name)
			}
		}
		for _, tp := range thirdParty {
			if strings.Contains(r.mayImport, tp.words) && !used[r.line][tp.words] {
				errorf("architecture.md:%d: the row of %s allows %s, which none of them imports", r.line, strings.Join(r.packages, ", "), tp.words)
			}
		}
	}
	return problems
}

// checkDoc finds each kind of disagreement: a package without a row, a row
// of no package, an import the row does not allow, an allowed package not
// imported, and a production package importing test support.
func TestCheckDocFindsEachDisagreement(t *testing.T) {
	table := []row{
		{line: 1, packages: []string{"pomocore"}, mayImport: "the standard library only"},
		{line: 2, packages: []string{"pipeline"}, mayImport: "`pomocore`, `classify`"},
		{line: 3, packages: []string{"gone"}, mayImport: "`pomocore`"},
		{line: 5, packages: []string{"classify"}, mayImport: "`pomocore`"},
		{line: 4, packages: []string{"internal/eventually"}, mayImport: "the standard library", testSupport: true},
	}
	pkgs := map[string][]string{
		module:                          {"fmt"},
		module + "/pipeline":            {module, module + "/redis", module + "/internal/eventually", "github.com/redis/go-redis/v9"},
		module + "/internal/eventually": {"time"},
		module + "/unlisted":            {},
	}
	byName := map[string][]string{}
	for p, imps := range pkgs {
		byName[docName(p)] = imps
	}
	got := strings.Join(checkDoc(table, byName), "\n")
	for _, want := range []string{
		"package unlisted has no row",
		"package gone does not exist",
		"pipeline imports redis",
		"pipeline imports go-redis",
		"allows classify, which none of them imports",
		"production package pipeline imports test-support package internal/eventually",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q among:\n%s", want, got)
		}
	}
	if strings.Contains(got, "pomocore imports") {
		t.Errorf("the standard library reported:\n%s", got)
	}
}
