package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/internal/tool"
)

// TestLivePageInChromium loads the live page in headless Chromium: it shows
// a user of the test's events, and the category picker changes the list.
// With POMOCORE_SCREENSHOT=path it also saves a screenshot.
func TestLivePageInChromium(t *testing.T) {
	browser := tool.Require(t, "chromium")
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	stop, logs := startRun(t, map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"), "POMOCORE_BLOCK": "20ms",
		"POMOCORE_HTTP_ADDR": anyPort,
	})
	addr := httpAddrOf(t, logs)
	defer stop()
	ctx := context.Background()
	ts := time.Now().Add(-time.Minute)
	for _, e := range [][]string{
		contractEntry("dev-dana", "Xcode", "", 1500, ts, false),
		contractEntry("gamer-gil", "Steam", "", 900, ts, false),
	} {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: e}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.WindowSize(1200, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	// Poll waits (in the page) until the board lists the user.
	boardHas := func(user string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`document.getElementById("board").textContent.includes("` + user + `")`)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate("http://"+addr+"/"),
		boardHas("dev-dana"), // the default board is "work": Development counts, Game does not
		chromedp.SetValue(chromedp.ID("category"), "Game"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("category").dispatchEvent(new Event("change"))`),
		boardHas("gamer-gil"),
	); err != nil {
		t.Fatalf("browser: %v\n%s", err, logs.String())
	}
	board, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("board")))
	if err != nil || strings.Contains(board, "dev-dana") {
		t.Errorf("after picking Game the board shows %q (%v)", board, err)
	}
	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("POMOCORE_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Error(err)
		}
	}
}
