package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"tandem/migrations"
)

const migrateUsage = `Usage:
  tandem migrate up                apply every pending migration
  tandem migrate down [N]          roll back the last N migrations (default 1)
  tandem migrate status            list migrations and whether each is applied
  tandem migrate create NAME       write a new empty migration for every dialect
  tandem migrate copy --data-dir DIR --database-url URL
                                   copy everything in the embedded store into an
                                   empty, migrated Postgres database, then check it

copy moves accounts (with their password hashes), API tokens, documents,
members, invitations, the whole history and snapshots, keeping every id,
version and timestamp. Browser sessions are not copied: everyone signs in
again. Stop the server first. The target must be migrated (tandem migrate up
--database-url URL) and empty, else nothing is written; the copy is one
transaction, so a failure leaves the target as it was. Afterwards every
table's row count and every document's content are compared; any difference
exits non-zero.

Flags:
`

func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tandem migrate", migrateUsage, stderr)
	var db dbFlags
	db.register(fs)
	dir := fs.String("dir", "migrations", "for create: the migrations folder of the source tree")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(fs, "tandem migrate: missing subcommand")
	}
	sub, rest := pos[0], pos[1:]

	switch sub {
	case "create":
		if len(rest) != 1 {
			return usageError(fs, "tandem migrate create: want one NAME")
		}
		paths, err := migrations.Create(*dir, rest[0])
		for _, p := range paths {
			fmt.Fprintf(stdout, "created %s\n", p)
		}
		return err
	case "copy":
		if len(rest) != 0 {
			return usageError(fs, "tandem migrate copy: unexpected argument %q", rest[0])
		}
		if db.url == "" {
			return usageError(fs, "tandem migrate copy: --database-url (the Postgres target) is required")
		}
		if db.dataDir == "" {
			return usageError(fs, "tandem migrate copy: --data-dir (the embedded store to copy) is required")
		}
		if db.snapshotEvery < 1 {
			return usageError(fs, "--snapshot-every must be at least 1")
		}
		return copyCommand(ctx, dbFlags{dataDir: db.dataDir, snapshotEvery: db.snapshotEvery},
			dbFlags{url: db.url, snapshotEvery: db.snapshotEvery}, stdout, stderr)
	case "up", "status":
		if len(rest) != 0 {
			return usageError(fs, "tandem migrate %s: unexpected argument %q", sub, rest[0])
		}
	case "down":
		if len(rest) > 1 {
			return usageError(fs, "tandem migrate down: want at most one N")
		}
	default:
		return usageError(fs, "tandem migrate: unknown subcommand %q", sub)
	}
	steps := 1
	if sub == "down" && len(rest) == 1 {
		if steps, err = strconv.Atoi(rest[0]); err != nil || steps < 1 {
			return usageError(fs, "tandem migrate down: N must be a positive integer, not %q", rest[0])
		}
	}

	b, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	m, err := b.migrator()
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		res, err := m.Up(ctx)
		printResults(stdout, res)
		if err == nil && len(res) == 0 {
			fmt.Fprintln(stdout, "already up to date")
		}
		return err
	case "down":
		res, err := m.Down(ctx, steps)
		printResults(stdout, res)
		if err == nil && len(res) == 0 {
			fmt.Fprintln(stdout, "nothing to roll back")
		}
		return err
	default:
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
		for _, s := range st {
			state, at := "pending", ""
			if s.Applied {
				state, at = "applied", s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
		}
		return tw.Flush()
	}
}

func printResults(w io.Writer, res []migrations.Result) {
	for _, r := range res {
		verb := "applied"
		if !r.Up {
			verb = "rolled back"
		}
		fmt.Fprintf(w, "%s %s (%s)\n", verb, r.Name, r.Duration.Round(1e5))
	}
}
