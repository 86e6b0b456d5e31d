package dispatch_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"hooktap/dispatch"
	"hooktap/rules"
)

// A receiver checks X-Hub-Signature with its copy of the secret.
func Example() {
	const secret = "s3cret"
	got := make(chan string, 1)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		ok := hmac.Equal([]byte(r.Header.Get("X-Hub-Signature")), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
		got <- fmt.Sprintf("%s %s signature ok: %v", r.Header.Get("X-Event-Key"), body, ok)
	}))
	defer rc.Close()

	d, err := dispatch.New(dispatch.Config{Queue: "memory",
		AllowTargets: []string{"127.0.0.1"}}, // the receiver is on loopback, refused by default
		[]dispatch.Webhook{{
			Name: "chat", URL: rc.URL, Secret: secret, Events: []string{"page_created"},
		}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()

	err = d.Enqueue(&rules.Event{Name: "page_created", Time: 1778071365412,
		Payload: []byte(`{"timestamp":1778071365412,"event":"page_created","userKey":"admin","page":{"id":123456}}`)})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-got)
	cancel()
	<-done
	// Output:
	// page_created {"timestamp":1778071365412,"event":"page_created","userKey":"admin","page":{"id":123456}} signature ok: true
}
