package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	// Interrupts cancel the context so an in-flight request ends cleanly;
	// the agent subcommand installs its own handlers on top of this.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

// run executes one invocation of the binary: args[0] is the program name.
// It prints any error on stderr and returns it; exitCode maps it to the
// process status. Tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return (&env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}).run(ctx, args)
}

// env is everything a command may touch outside its flags: the standard
// streams and the process environment (a function so tests need not mutate
// the real one).
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func (e *env) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		args = []string{"consulate"}
	}
	err := e.newApp().RunContext(ctx, args)
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || !ee.silent {
			fmt.Fprintln(e.stderr, strings.TrimRight(err.Error(), "\n"))
		}
	}
	return err
}

// exitError carries a specific exit status. A silent one has already told
// the user what went wrong (or there is nothing to say).
type exitError struct {
	code   int
	msg    string
	silent bool
}

func (e *exitError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.msg
}

// exitCode maps run's error to the process status: 0 success, the code of an
// exitError, otherwise 1.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.code != 0 {
		return ee.code
	}
	return 1
}

func (e *env) newApp() *cli.App {
	app := &cli.App{
		Name:        "consulate",
		Usage:       "service discovery agent and its command-line client",
		HelpName:    "consulate",
		Reader:      e.stdin,
		Writer:      e.stdout,
		ErrWriter:   e.stderr,
		HideVersion: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version and exit"},
		},
		Commands: e.commands(),
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				printVersion(e.stdout)
				return nil
			}
			if c.Args().Present() {
				return fmt.Errorf("consulate: unknown command %q; run 'consulate -h' for the list of commands", c.Args().First())
			}
			_ = cli.ShowAppHelp(c)
			return &exitError{code: 1, silent: true}
		},
		// urfave's default handler calls os.Exit; run decides the status.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
	}
	for _, cmd := range app.Commands {
		harden(cmd)
	}
	return app
}

// commands is the full command tree, sorted by name as `consulate -h` lists it.
func (e *env) commands() []*cli.Command {
	cmds := []*cli.Command{
		agentCommand(),
		e.aclCommand(),
		e.catalogCommand(),
		e.debugCommand(),
		e.eventCommand(),
		e.forceLeaveCommand(),
		e.infoCommand(),
		e.joinCommand(),
		e.keygenCommand(),
		e.keyringCommand(),
		e.kvCommand(),
		e.leaveCommand(),
		e.membersCommand(),
		e.operatorCommand(),
		e.reloadCommand(),
		e.rttCommand(),
		e.servicesCommand(),
		e.tlsCommand(),
		e.versionCommand(),
		e.validateCommand(),
		e.execCommand(),
		e.lockCommand(),
		e.maintCommand(),
		e.monitorCommand(),
		e.snapshotCommand(),
		e.watchCommand(),
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

// harden gives every command in the tree a usage-error handler that returns
// a plain error (instead of printing help to stdout), and gives every parent
// command an action that rejects unknown subcommands.
func harden(cmd *cli.Command) {
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = usageError
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("%s: unknown subcommand %q; run '%s -h' for the list", c.Command.HelpName, c.Args().First(), c.Command.HelpName)
			}
			_ = cli.ShowSubcommandHelp(c)
			return &exitError{code: 1, silent: true}
		}
	}
	for _, sub := range cmd.Subcommands {
		harden(sub)
	}
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := "consulate"
	if c != nil && c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return fmt.Errorf("%s: %w; run '%s -h' for usage", name, err, name)
}

// noArgs rejects positional arguments on commands that take none, so a
// mistyped flag placed after an argument does not pass silently.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s: this command takes no arguments, got %q", c.Command.HelpName, c.Args().Slice())
	}
	return nil
}
