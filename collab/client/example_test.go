package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"tandem/collab/client"
)

// A program edits a document: it connects with an API token, opens the
// document, edits it and waits for the server to acknowledge its edits.
func ExampleDoc() {
	srv := client.StartExampleServer() // a server with a token and a document
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{Token: srv.Token})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	doc, err := conn.Open(ctx, srv.DocID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q at version %d\n", doc.Text(), doc.Version())

	// Positions count code points.
	if err := doc.Insert(doc.Len(), ", wörld"); err != nil {
		log.Fatal(err)
	}
	if err := doc.Delete(0, 1); err != nil { // buffered while the insert awaits its ack
		log.Fatal(err)
	}
	if err := doc.Insert(0, "h"); err != nil {
		log.Fatal(err)
	}
	if err := doc.WaitSynced(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q at version %d\n", doc.Text(), doc.Version())
	// Output:
	// "Hello" at version 0
	// "hello, wörld" at version 2
}
