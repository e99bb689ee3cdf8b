package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tandem/collab/client"
)

// A host app puts a document of its own into Tandem and lets one of its
// users edit it (docs/embedding.md). The app's server holds the app's id
// and secret; it creates the document with them, and signs a short-lived
// token naming its user and what the user may open. The user's program (a
// browser uses the JavaScript package the same way) connects with that
// token.
func Example_hostApp() {
	srv := client.StartExampleServer() // a server with a registered app
	defer srv.Stop()

	// On the app's server: create the document under the app's own id.
	req, _ := http.NewRequest("PUT", srv.URL+"/api/apps/docs/deal-42",
		strings.NewReader(`{"title": "Deal 42", "content": "Notes:"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+srv.AppID+":"+srv.AppSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("created:", resp.Status)

	// On the app's server: a token for its user "u-7", for its deal documents.
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":  srv.AppID,
		"sub":  "u-7",
		"name": "Dana",
		"docs": map[string]string{"deal-*": "editor"},
		"exp":  time.Now().Add(10 * time.Minute).Unix(),
	}).SignedString([]byte(srv.AppSecret))
	if err != nil {
		log.Fatal(err)
	}

	// In the user's program: connect with the token and edit.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{Token: token})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	doc, err := conn.Open(ctx, "deal-42")
	if err != nil {
		log.Fatal(err)
	}
	if err := doc.Insert(doc.Len(), " call Friday"); err != nil {
		log.Fatal(err)
	}
	if err := doc.WaitSynced(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s edits %q: %q at version %d\n", conn.User().Name, "deal-42", doc.Text(), doc.Version())

	// The token opens nothing else.
	if _, err := conn.Open(ctx, srv.DocID); err != nil {
		fmt.Println("another document:", client.Code(err))
	}
	// Output:
	// created: 201 Created
	// Dana edits "deal-42": "Notes: call Friday" at version 1
	// another document: not_found
}
