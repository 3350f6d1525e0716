package main

import "github.com/spf13/cobra"

// completionCmd writes the shell completion scripts cobra generates from
// the command tree: commands, flags and the values of -o, -p, --state,
// --status and --timeout.
func (a *app) completionCmd() *cobra.Command {
	script := func(shell string, gen func(root *cobra.Command) error, how string) *cobra.Command {
		return a.leaf(leaf{
			use:    shell,
			short:  "write the " + shell + " completion script",
			long:   "Write the " + shell + " completion script on stdout. " + how,
			noDial: true,
			check: func(cmd *cobra.Command) error {
				if changed(cmd, "output") {
					return usagef("--output does not apply to a completion script")
				}
				return nil
			},
			run: func(cmd *cobra.Command, _ client) (*output, error) {
				// Write errors surface through the app's stdout.
				_ = gen(cmd.Root())
				return nil, nil
			},
		})
	}
	return a.group("completion", "write a shell completion script (bash or zsh)",
		"Write a script that makes the shell complete nflab's commands, flags and flag values.",
		script("bash", func(root *cobra.Command) error { return root.GenBashCompletionV2(a.stdout, true) },
			`Load it in the current shell with

  source <(nflab completion bash)

or install it for every shell, with the bash-completion package, as
/usr/share/bash-completion/completions/nflab.`),
		script("zsh", func(root *cobra.Command) error { return root.GenZshCompletion(a.stdout) },
			`Load it in the current shell with

  source <(nflab completion zsh)

or install it as _nflab in a directory of $fpath, with compinit enabled.`),
	)
}
