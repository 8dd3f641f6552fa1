// Package llmcost measures what one LLM call carries, in characters and in
// tokens counted with the o200k_base encoding (gpt-4o and gpt-4o-mini),
// whose vocabulary is compiled into the binary: nothing is downloaded.
//
// It is for tests, the bench and tools only; production code never
// imports it (the encoding adds megabytes to a binary).
package llmcost

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer/codec"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/llm"
)

// Overhead is what the chat format adds to one call of a system and a
// user message, in tokens: 3 per message and 1 for each role, and 3 that
// prime the reply (OpenAI's accounting for gpt-4o-class models).
const Overhead = 2*(3+1) + 3

// SchemaOverhead is what a structured-output schema adds besides its own
// text, in tokens (measured against OpenAI's usage by others; an estimate).
const SchemaOverhead = 9

var o200k = sync.OnceValue(codec.NewO200kBase)

// Tokens returns the o200k_base tokens of text.
func Tokens(text string) int {
	n, err := o200k().Count(text)
	if err != nil { // only for invalid UTF-8 in strict mode, which is not set
		return utf8.RuneCountInString(text) / 2
	}
	return n
}

// Size is what one call sends, in characters (runes) and tokens.
type Size struct {
	// SystemChars and SystemTokens are the system prompt's.
	SystemChars, SystemTokens int
	// UserChars and UserTokens are the user message's (the activities).
	UserChars, UserTokens int
	// SchemaChars and SchemaTokens are the answer schema's (0 without
	// one); SchemaTokens counts its text as OpenAI does (without
	// "required" and "additionalProperties") plus SchemaOverhead.
	SchemaChars, SchemaTokens int
}

// Chars returns the characters of the call's messages and schema.
func (s Size) Chars() int { return s.SystemChars + s.UserChars + s.SchemaChars }

// Tokens returns the call's prompt tokens: messages, schema and Overhead.
func (s Size) Tokens() int { return s.SystemTokens + s.UserTokens + s.SchemaTokens + Overhead }

// Measure returns the size of the call a Client with cfg makes for
// queries.
func Measure(cfg llm.Config, queries []classify.Query) Size {
	r := llm.NewRequest(cfg, queries)
	s := Size{
		SystemChars: utf8.RuneCountInString(r.System), SystemTokens: systemTokens(r.System),
		UserChars: utf8.RuneCountInString(r.User), UserTokens: Tokens(r.User),
	}
	if r.Schema != nil {
		b, _ := json.Marshal(r.Schema) // maps of strings: cannot fail
		s.SchemaChars = utf8.RuneCountInString(string(b))
		s.SchemaTokens = Tokens(string(schemaAsCounted(r.Schema))) + SchemaOverhead
	}
	return s
}

// systemPrompts remembers the tokens of the system prompts measured (one
// per configuration, the same for every call).
var systemPrompts sync.Map

func systemTokens(prompt string) int {
	if n, ok := systemPrompts.Load(prompt); ok {
		return n.(int)
	}
	n := Tokens(prompt)
	systemPrompts.Store(prompt, n)
	return n
}

// Cost returns the characters and prompt tokens of the call a Client with
// cfg makes for queries.
func Cost(cfg llm.Config, queries []classify.Query) (chars, tokens int) {
	s := Measure(cfg, queries)
	return s.Chars(), s.Tokens()
}

// AnswerTokens returns the completion tokens of an answer that gives
// categories to the activities in order (the compact JSON object by id
// the prompt asks for).
func AnswerTokens(categories []string) int {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range categories {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(strconv.Itoa(i+1)) + ":" + strconv.Quote(c))
	}
	b.WriteByte('}')
	return Tokens(b.String())
}

func schemaAsCounted(schema map[string]any) []byte {
	trimmed := make(map[string]any, len(schema))
	for k, v := range schema {
		if k != "required" && k != "additionalProperties" {
			trimmed[k] = v
		}
	}
	b, _ := json.Marshal(trimmed)
	return b
}
