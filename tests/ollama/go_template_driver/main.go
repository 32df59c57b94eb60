// Command go_template_driver renders text/template cases the way Ollama's template package parses
// them (template.go at the Ollama commit blossom_edge.ollama.go names: option missingkey=zero and
// its FuncMap), for tests/ollama/test_go_template_differential.py.
//
// Standard input: one JSON object per line, {"template": "...", "data": <any JSON>}.
// Standard output: one JSON object per line, in the same order:
// {"out": "<base64 of the rendered bytes>"} or {"error": "<message>"}.
// The data is decoded as Go decodes a request: objects become map[string]any, numbers float64.
// The rendered bytes travel as base64 because a template may print invalid UTF-8.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"text/template"
	"time"
)

type input struct {
	Template string `json:"template"`
	Data     any    `json:"data"`
}

type output struct {
	Out   *string `json:"out,omitempty"`
	Error *string `json:"error,omitempty"`
}

// funcs mirrors the names and behaviour Ollama registers for templates. toTypeScriptType only
// converts Ollama's api.ToolProperty; for JSON data it always answers "any", as Ollama's does.
var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"currentDate": func(args ...string) string {
		return time.Now().Format("2006-01-02")
	},
	"yesterdayDate": func(args ...string) string {
		return time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	},
	"toTypeScriptType": func(v any) string {
		return "any"
	},
}

func render(in input) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(in.Template)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, in.Data); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	writer := bufio.NewWriter(os.Stdout)
	defer writer.Flush()
	encoder := json.NewEncoder(writer)
	for scanner.Scan() {
		var in input
		var res output
		if err := json.Unmarshal(scanner.Bytes(), &in); err != nil {
			msg := "bad input line: " + err.Error()
			res.Error = &msg
		} else if out, err := render(in); err != nil {
			msg := err.Error()
			res.Error = &msg
		} else {
			res.Out = &out
		}
		if err := encoder.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
