package structs

import (
	"errors"
	"fmt"
	"testing"
)

func TestRemoteErrorRoundTrip(t *testing.T) {
	cases := []error{
		ErrNoLeader, fmt.Errorf("forward: %w", ErrNoDCPath), ErrNoServers, ErrUnknownMethod, ErrNotFound, ErrRateLimited,
	}
	for _, err := range cases {
		re := ToRemoteError(err)
		if re.Code == "" {
			t.Fatalf("%v: no code", err)
		}
		if !errors.Is(re, errors.Unwrap(err)) && !errors.Is(re, err) {
			t.Fatalf("%v: remote error does not match its sentinel", err)
		}
	}
	re := ToRemoteError(&ErrUnknownDC{DC: "dc9", Known: []string{"dc1", "dc2"}})
	var udc *ErrUnknownDC
	if !errors.As(re, &udc) || udc.DC != "dc9" || len(udc.Known) != 2 {
		t.Fatalf("unknown dc lost: %+v", udc)
	}
	if errors.Is(ToRemoteError(errors.New("boom")), ErrNoLeader) {
		t.Fatal("plain error matched a sentinel")
	}
}
