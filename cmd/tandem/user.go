package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"tandem/auth"
)

const userUsage = `Usage:
  tandem user create --email EMAIL --name NAME   create an account; the password is read from stdin
  tandem user list                               list accounts
  tandem user set-password --email EMAIL         set a password, read from stdin

The password is the first line of standard input, e.g.
  printf '%s\n' "$PASSWORD" | tandem user create --email ann@example.com --name Ann

Flags:
`

func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("tandem user", userUsage, stderr)
	var db dbFlags
	db.register(fs)
	email := fs.String("email", "", "the account's email")
	name := fs.String("name", "", "for create: the account's display name")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "tandem user: want one subcommand: create, list or set-password")
	}
	sub := pos[0]
	switch sub {
	case "create", "set-password":
		if *email == "" || (sub == "create" && *name == "") {
			return usageError(fs, "tandem user %s: --email%s is required", sub, map[bool]string{true: " and --name are", false: ""}[sub == "create"])
		}
	case "list":
	default:
		return usageError(fs, "tandem user: unknown subcommand %q", sub)
	}

	b, err := db.openCurrent(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	hasher := auth.NewHasher(auth.DefaultArgon2, 1)

	switch sub {
	case "list":
		users, err := b.store.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
		}
		return tw.Flush()
	case "create":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		req := auth.SignupRequest{Email: *email, Name: *name, Password: pw}
		if err := req.Validate(); err != nil {
			return err
		}
		u, err := auth.CreateUser(ctx, b.store, hasher, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (%s)\n", u.ID, u.Email)
		return nil
	default:
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := auth.ValidatePassword(pw); err != nil {
			return err
		}
		u, err := b.store.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("no user with email %s", *email)
		}
		hash, err := hasher.Hash(ctx, pw)
		if err != nil {
			return err
		}
		if err := b.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password set for %s\n", u.Email)
		return nil
	}
}

// readPassword reads the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}
