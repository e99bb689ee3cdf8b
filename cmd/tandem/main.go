// Command tandem is Tandem's one binary: it serves (tandem serve), migrates
// the database (tandem migrate) and administers accounts (tandem user) and host apps (tandem app). Every
// flag can also be set with an environment variable, named in --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Tandem is a collaborative document editing server.

Usage:
  tandem <command> [arguments]

Commands:
  serve      run the server (on the embedded store unless --database-url is set)
  migrate    apply, roll back, inspect or create database migrations; copy
             the embedded store into Postgres
  user       create and list accounts, set passwords (for operators)
  app        register, list and revoke host apps (for operators)

Run "tandem <command> --help" for a command's flags.
`

// errUsage marks a usage error: the message has been printed with the usage.
var errUsage = errors.New("usage error")

// run executes the command line args and returns the exit code: 0 on
// success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCommand(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCommand(ctx, args[1:], stdout, stderr)
	case "user":
		err = userCommand(ctx, args[1:], stdin, stdout, stderr)
	case "app":
		err = appCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tandem: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "tandem %s: %v\n", args[0], err)
		return 1
	}
}

// envName is the environment variable that sets a flag: TANDEM_ and the
// flag's name in capitals, with dashes as underscores.
func envName(flagName string) string {
	return "TANDEM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a flag set whose usage names each flag's environment
// variable.
func newFlagSet(name, usage string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	named := false
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		if !named {
			fs.VisitAll(func(f *flag.Flag) { f.Usage += fmt.Sprintf(" (env %s)", envName(f.Name)) })
			named = true
		}
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs sets flags from their environment variables, then from args,
// where flags may come before and after the positional arguments (as in
// `tandem migrate up --database-url ...`). It returns the positional ones.
// A bad value, from either, is a usage error.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %w", v, envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return nil, usageError(fs, "%v", envErr)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			// The flag package has printed the error and the usage.
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// usageError prints msg and the flag set's usage, and returns errUsage.
func usageError(fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(fs.Output(), "%s\n\n", fmt.Sprintf(format, a...))
	fs.Usage()
	return errUsage
}
