package oauth

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLambdaBuildHasNoLoginPages: the hosted login stays out of the Lambda
// bootstrap. Executing templates makes the linker keep every exported method
// of every linked type (about 10 MB more with the AWS SDK), and the
// functions serve no pages.
func TestLambdaBuildHasNoLoginPages(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "lambda.norpc,latch.lambda", "-deps", "latch.dev/latch/cmd/latch-lambda").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found only %d packages", len(deps))
	}
	for _, d := range deps {
		if d == "html/template" || d == "text/template" {
			t.Errorf("cmd/latch-lambda depends on %s", d)
		}
	}
}
