package client

import (
	"context"
	"fmt"
	"os"

	"tandem/auth"
)

// exampleTB is a tb for examples: failures panic, cleanups run at Stop.
type exampleTB struct {
	cleanups []func()
	dir      string
}

func (e *exampleTB) Helper()                      {}
func (e *exampleTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (e *exampleTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
func (e *exampleTB) Errorf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
func (e *exampleTB) Cleanup(fn func())            { e.cleanups = append(e.cleanups, fn) }
func (e *exampleTB) TempDir() string {
	if e.dir == "" {
		dir, err := os.MkdirTemp("", "tandem-example-")
		if err != nil {
			panic(err)
		}
		e.dir = dir
		e.Cleanup(func() { os.RemoveAll(dir) })
	}
	return e.dir
}

// ExampleServer is a server started for the package example.
type ExampleServer struct {
	URL   string // the server's base URL
	Token string // an API token of its one user, ann
	DocID string // a document of ann's, holding "Hello"
	// AppID and AppSecret are a host app registered on the server, as
	// `tandem app create --name crm` prints them.
	AppID, AppSecret string
	tb               *exampleTB
}

// StartExampleServer starts a server on loopback with one user and one
// document (for the package example only: this file is compiled in tests).
func StartExampleServer() *ExampleServer {
	e := &exampleTB{}
	s := startServer(e, nil)
	ann := s.signup("ann@example.com")
	app, err := auth.CreateApp(context.Background(), s.st, auth.AppRequest{Name: "crm"})
	if err != nil {
		panic(err)
	}
	return &ExampleServer{URL: s.URL, Token: ann.token(), DocID: ann.createDoc("Hello"),
		AppID: app.App.ID, AppSecret: app.Secret, tb: e}
}

// Stop stops the server.
func (s *ExampleServer) Stop() {
	for i := len(s.tb.cleanups) - 1; i >= 0; i-- {
		s.tb.cleanups[i]()
	}
}
