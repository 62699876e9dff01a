package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves flags that follow positional arguments in front of
// them, so that `airlock import BUNDLE --to REGISTRY` works as the docs
// write it (urfave/cli stops parsing flags at the first argument). "--"
// ends flag processing as usual.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	args = hoistGlobalBools(app, args)
	out := []string{args[0]}
	cmds := app.Commands
	flags := app.Flags
	i := 1
	// Walk global flags, then the command and subcommand names.
	for i < len(args) {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		cmd := findCommand(cmds, a)
		if cmd == nil {
			break
		}
		out = append(out, a)
		i++
		flags, cmds = cmd.Flags, cmd.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(args) {
				fl = append(fl, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(append(out, fl...), pos...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag token a ("--to", "-o", "--to=x")
// needs the next argument as its value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	n := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, fn := range f.Names() {
			if fn == n {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

// hoistGlobalBools moves the app's boolean flags (--debug, --quiet) found
// anywhere before "--" to the front, so `airlock verify b.tar --debug`
// works as docs/cli.md promises. A command flag of the same name would
// shadow it; commands define none.
func hoistGlobalBools(app *cli.App, args []string) []string {
	isGlobal := func(a string) bool {
		if !strings.HasPrefix(a, "-") {
			return false
		}
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		for _, f := range app.Flags {
			if _, ok := f.(*cli.BoolFlag); !ok {
				continue
			}
			for _, fn := range f.Names() {
				if fn == n && fn != "help" && fn != "h" && fn != "version" && fn != "v" {
					return true
				}
			}
		}
		return false
	}
	front, rest := []string{args[0]}, []string{}
	for i := 1; i < len(args); i++ {
		if args[i] == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if isGlobal(args[i]) {
			front = append(front, args[i])
		} else {
			rest = append(rest, args[i])
		}
	}
	return append(front, rest...)
}
