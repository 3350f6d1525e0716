//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// complete drives cobra's hidden __complete command, as the generated
// scripts do, and returns the completions and the directive.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	got := runNoDial(t, append([]string{"__completeNoDesc"}, args...)...)
	if got.Code != 0 {
		t.Fatalf("nflab __complete %q = %+v", args, got)
	}
	lines := strings.Split(strings.TrimSuffix(got.Stdout, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

const (
	noFile        = ":4" // cobra.ShellCompDirectiveNoFileComp
	noFileNoSpace = ":6" // ... | cobra.ShellCompDirectiveNoSpace
)

func TestComplete(t *testing.T) {
	states := []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
	tests := []struct {
		args      []string
		want      []string
		directive string
	}{
		{[]string{""}, []string{"stats", "ct", "trace", "rule", "chain", "set", "rules", "version", "completion", "help"}, noFile},
		{[]string{"c"}, []string{"ct", "chain", "completion"}, noFile},
		{[]string{"rule", "add", ""}, []string{"raw", "mangle", "filter", "nat"}, noFile},
		{[]string{"rule", "add", "raw", ""}, []string{"prerouting", "output"}, noFile},
		{[]string{"rule", "insert", "filter", "input", "tcp", "dport", "22", "ac"}, []string{"accept"}, noFile},
		{[]string{"chain", "list", "m"}, []string{"mangle"}, noFile},
		{[]string{"set", "add", "blocked", ""}, []string{"addr", "port"}, noFile},
		{[]string{"set", "load", "blocked", "--type", "p"}, []string{"port"}, noFile},
		{[]string{"ct", ""}, []string{"list", "get", "events", "delete", "flush", "count", "stats", "config", "gc"}, noFile},
		{[]string{"completion", ""}, []string{"bash", "zsh"}, noFile},
		{[]string{"help", "ct", "e"}, []string{"events"}, noFile},
		{[]string{"-o", ""}, []string{"table", "json"}, noFile},
		{[]string{"stats", "--output", "j"}, []string{"json"}, noFile},
		{[]string{"ct", "list", "-p", ""}, []string{"tcp", "udp", "icmp"}, noFile},
		{[]string{"ct", "get", "--proto", "ic"}, []string{"icmp"}, noFile},
		{[]string{"ct", "events", "--state", ""}, states, noFile},
		{[]string{"ct", "flush", "--state", "syn"}, []string{"SYN_SENT", "SYN_RECV", "SYN_SENT2"}, noFile},
		{[]string{"ct", "list", "--status", ""}, []string{"SEEN_REPLY", "ASSURED", "CONFIRMED", "DYING", "SRC_NAT", "DST_NAT"}, noFileNoSpace},
		{[]string{"ct", "list", "-u", "ASSURED,"}, []string{"ASSURED,SEEN_REPLY", "ASSURED,CONFIRMED", "ASSURED,DYING", "ASSURED,SRC_NAT", "ASSURED,DST_NAT"}, noFileNoSpace},
		{[]string{"ct", "config", "--timeout", "tcp_e"}, []string{"tcp_established="}, noFileNoSpace},
		{[]string{"ct", "config", "--timeout", "icmp=5"}, []string{"icmp=5m", "icmp=5d"}, noFile},
		{[]string{"ct", "config", "--tcp-loose="}, []string{"true", "false"}, noFile},
		// conntrack's commands complete as the ct subcommands.
		{[]string{"-L", "-p", ""}, []string{"tcp", "udp", "icmp"}, noFile},
		{[]string{"-E", "--state", "EST"}, []string{"ESTABLISHED"}, noFile},
		{[]string{"-n", "nflab-test-no-such-namespace"}, []string{}, noFile},
		// A trace's subcommands, then its selector's words.
		{[]string{"trace", ""}, []string{"watch", "add", "list", "delete", "tcp", "udp", "icmp", "proto", "host", "net", "src", "dst", "port", "iface"}, noFile},
		{[]string{"trace", "a"}, []string{"add"}, noFile},
		{[]string{"trace", "tcp", ""}, []string{"and", "host", "net", "src", "dst", "port", "iface"}, noFile},
		{[]string{"trace", "watch", "tcp and host 10.0.0.1", "and", ""}, []string{"src", "dst", "port", "iface"}, noFile},
		{[]string{"trace", "add", "udp", "dst", ""}, []string{"host", "net", "port"}, noFile},
		{[]string{"trace", "add", "proto", "g"}, []string{"gre"}, noFile},
		{[]string{"trace", "add", "proto", ""}, []string{"icmp", "igmp", "tcp", "udp", "gre", "esp", "ah", "ospf", "sctp"}, noFile},
		// "src host A" is the source, not the host: host and net remain.
		{[]string{"trace", "src", "host", "10.0.0.1", ""}, []string{"and", "tcp", "udp", "icmp", "proto", "host", "net", "src", "dst", "port", "iface"}, noFile},
		{[]string{"trace", "udp src 10.0.0.1 and src port 53", ""}, []string{"and", "host", "net", "dst", "port", "iface"}, noFile},
		{[]string{"trace", "src", "10.0.0.1", "and", "src", ""}, []string{"port"}, noFile},
		// A device's name is not a keyword.
		{[]string{"trace", "iface", "host", ""}, []string{"and", "tcp", "udp", "icmp", "proto", "host", "net", "src", "dst", "port"}, noFile},
		{[]string{"trace", "add", "tcp", "port", ""}, []string{}, noFile},
		{[]string{"trace", "--timeout", ""}, []string{"10s", "30s", "1m", "5m", "1h"}, noFile},
		{[]string{"trace", "add", "--budget", ""}, []string{}, noFile},
		{[]string{"trace", "delete", ""}, []string{}, noFile},
	}
	for _, tt := range tests {
		got, directive := complete(t, tt.args...)
		if diff := cmp.Diff(tt.want, got); diff != "" || directive != tt.directive {
			t.Errorf("nflab %q<TAB>: directive %s, want %s (-want +got):\n%s", tt.args, directive, tt.directive, diff)
		}
	}

	// Flag names.
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"ct", "list", "--"}, []string{"--proto", "--src", "--dst", "--sport", "--dport", "--state", "--status", "--output"}},
		{[]string{"ct", "get", "--icmp"}, []string{"--icmp-id", "--icmp-type"}},
		{[]string{"-G", "--hi"}, []string{"--history"}},
		{[]string{"ct", "events", "--b"}, []string{"--buffer-size"}},
		{[]string{"ct", "config", "--"}, []string{"--limit", "--tcp-loose", "--timeout"}},
		{[]string{"stats", "--"}, []string{"--reset", "--verbose", "--output"}},
		{[]string{"trace", "--"}, []string{"--budget", "--timeout", "--hooks", "--buffer-size", "--output"}},
		{[]string{"trace", "add", "--"}, []string{"--budget", "--timeout", "--output"}},
		{[]string{"trace", "delete", "--"}, []string{"--all", "--output"}},
		{[]string{"--"}, []string{"--dump", "--get", "--delete", "--flush", "--event", "--count", "--stats", "--output"}},
	} {
		got, _ := complete(t, tt.args...)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("nflab %q<TAB> = %q, lacks %s", tt.args, got, w)
			}
		}
		if slices.Contains(got, "--gen-readme") || slices.Contains(got, "gen-readme") {
			t.Errorf("nflab %q<TAB> offers the hidden gen-readme", tt.args)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	bash := runNoDial(t, "completion", "bash")
	if bash.Code != 0 || !strings.Contains(bash.Stdout, "__start_nflab") || !strings.Contains(bash.Stdout, "__complete") {
		t.Fatalf("nflab completion bash = exit %d, %.200q", bash.Code, bash.Stdout)
	}
	zsh := runNoDial(t, "completion", "zsh")
	if zsh.Code != 0 || !strings.HasPrefix(zsh.Stdout, "#compdef nflab") || !strings.Contains(zsh.Stdout, "__complete") {
		t.Fatalf("nflab completion zsh = exit %d, %.200q", zsh.Code, zsh.Stdout)
	}
	for _, args := range [][]string{{"completion", "fish"}, {"completion", "bash", "extra"}, {"completion", "zsh", "-o", "json"}} {
		if got := runNoDial(t, args...); got.Code != 2 {
			t.Errorf("nflab %q = %+v, want a usage error", args, got)
		}
	}

	dir := t.TempDir()
	for shell, script := range map[string]string{"bash": bash.Stdout, "zsh": zsh.Stdout} {
		t.Run(shell, func(t *testing.T) {
			// make deps installs both shells; make unit fails on a skip.
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s not installed: its script is not checked", shell)
			}
			path := filepath.Join(dir, "nflab."+shell)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(shell, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", shell, err, out)
			}
			if shell != "zsh" {
				return // TestBashCompletion completes through it
			}
			// Loaded by zsh's completion system, the script defines the
			// completion function it registers for nflab.
			out, err := exec.Command("zsh", "-f", "-c",
				`autoload -U compinit && compinit -u -d "$1/zcompdump" && source "$2" && whence -w _nflab`,
				"zsh", dir, path).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "_nflab: function" {
				t.Fatalf("zsh loading the script: %v\n%s", err, out)
			}
		})
	}
}

// TestBashCompletion loads the bash script and completes through it, with
// this test binary standing in for nflab.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nNFLAB_TEST_MAIN=1 exec " + exe + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "nflab"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(dir, "nflab.bash")
	if err := os.WriteFile(scriptFile, []byte(runNoDial(t, "completion", "bash").Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line string
		want string
	}{
		{"nflab ct l", "list"},
		{"nflab ct list -p ", "icmp tcp udp"},
		{"nflab -L --state ESTA", "ESTABLISHED"},
		{"nflab stats -o ", "json table"},
		{"nflab trace l", "list"},
		{"nflab trace udp dst ", "host net port"},
	} {
		// A stand-in for bash-completion's _get_comp_words_by_ref, which
		// the script needs and which may not be installed.
		script := `_get_comp_words_by_ref() {
	cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
}
source ` + scriptFile + `
COMP_LINE='` + tt.line + `'
COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_nflab nflab
printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
`
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.Output() // compopt complains on stderr outside a completion
		if got := strings.TrimSpace(string(out)); err != nil || got != tt.want {
			t.Errorf("bash completion of %q = %q (%v), want %q", tt.line, got, err, tt.want)
		}
	}
}
