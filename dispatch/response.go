package dispatch

import (
	"errors"
	"net"
	"os"

	"github.com/valyala/fasthttp"
)

// readLimited returns the outcome of a request whose client reads at most maxResponseBody
// bytes of a body: a body longer than that ends the read with ErrBodyTooLarge, after the
// status line and headers were read; the rest is not read (the client closes the
// connection). That is an answer, not a failure: the status decides, and the delivery log
// keeps what was read. Any other error is returned as it is.
func readLimited(err error, resp *fasthttp.Response) error {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) && resp.StatusCode() >= 100 {
		return nil
	}
	return err
}

// isTimeout reports whether err means the receiver did not answer (or finish answering)
// in time: the client's own timeouts, a deadline on the connection, or a dial timeout.
func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isRefused reports whether err is a refusal of the target policy.
func isRefused(err error) bool { return errors.Is(err, ErrTargetRefused) }
