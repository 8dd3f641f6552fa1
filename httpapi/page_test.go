package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/tool"
)

// TestUnknownsPanelAcceptInChromium drives the live page's unknowns panel
// in headless Chromium: the panel lists an LLM-answered host with the
// LLM's category preselected, and accepting it with the admin token sends
// that domain pattern to the pattern editor (`pomocore patterns add`'s
// rules). A wrong token adds nothing and says why.
func TestUnknownsPanelAcceptInChromium(t *testing.T) {
	browser := tool.Require(t, "chromium")
	u := httpapi.NewUnknowns(httpapi.UnknownsConfig{})
	u.Observe("Google Chrome", "https://www.figma.com/file/abc", pomocore.Classification{Category: "Design", Source: pomocore.SourceLLM}, 600)
	u.Observe("Mystery.app", "", pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}, 30)
	ed := &fakeEditor{}
	s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy(), AdminToken: "letmein"},
		httpapi.Deps{Gatherer: prometheus.NewRegistry(), Leaderboards: &fakeBoards{}, Unknowns: u, Patterns: ed})
	ts := httptestServer(t, s)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1200, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	figma := `document.querySelector('button.accept[data-key="figma.com"]')`
	msgHas := func(s string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`document.getElementById("unknowns-msg").textContent.includes(` + jsString(s) + `)`)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.Poll[chromedp.Void](figma+` !== null`),
		chromedp.Poll[chromedp.Void](`document.getElementById("unknowns").textContent.includes("Mystery.app")`),
		chromedp.Poll[chromedp.Void](figma+`.closest("tr").querySelector("select").value === "Design"`),
		chromedp.SetValue(chromedp.ID("token"), "wrong"),
		chromedp.Evaluate[chromedp.Void](figma+`.click()`),
		msgHas("admin token"),
	); err != nil {
		t.Fatalf("browser, wrong token: %v", err)
	}
	if n := len(ed.edits); n != 0 {
		t.Fatalf("a wrong token made %d edit(s)", n)
	}
	if err := chromedp.Do(bctx,
		chromedp.SetValue(chromedp.ID("token"), "letmein"),
		chromedp.Evaluate[chromedp.Void](figma+`.click()`),
		msgHas("added domain pattern figma.com to Design"),
		chromedp.Poll[chromedp.Void](figma+` === null && document.getElementById("unknowns").textContent.includes("Mystery.app")`), // accepted: it leaves the list
	); err != nil {
		t.Fatalf("browser, accept: %v", err)
	}
	ed.mu.Lock()
	defer ed.mu.Unlock()
	if len(ed.edits) != 1 || ed.edits[0].Category != "Design" || len(ed.edits[0].Domains) != 1 || ed.edits[0].Domains[0] != "figma.com" {
		t.Errorf("edits = %+v, want figma.com into Design", ed.edits)
	}
}
