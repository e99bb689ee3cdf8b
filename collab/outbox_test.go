package collab

import (
	"fmt"
	"testing"
)

func TestOutbox(t *testing.T) {
	o := newOutbox(5)
	select {
	case <-o.ready:
		t.Fatal("an empty outbox is ready")
	default:
	}
	for i := range 5 {
		if !o.push([]byte(fmt.Sprint(i))) {
			t.Fatalf("push %d refused below the limit", i)
		}
	}
	if o.push([]byte("x")) {
		t.Fatal("push over the limit accepted")
	}
	<-o.ready
	batch := o.take(nil, 3)
	if fmt.Sprintf("%s", batch) != "[0 1 2]" || o.len() != 2 {
		t.Fatalf("take 3: %s, %d left", batch, o.len())
	}
	select {
	case <-o.ready: // more remain: the writer is told
	default:
		t.Fatal("not ready with messages left")
	}
	batch = o.take(batch, 10)
	if fmt.Sprintf("%s", batch) != "[0 1 2 3 4]" || o.len() != 0 {
		t.Fatalf("take the rest: %s", batch)
	}
	// A big burst's memory is let go once it is drained.
	big := newOutbox(100)
	for range 50 {
		big.push([]byte("m"))
	}
	for big.len() > 0 {
		big.take(nil, maxFrameMsgs)
	}
	if big.msgs != nil {
		t.Errorf("drained outbox keeps %d slots", cap(big.msgs))
	}
}
