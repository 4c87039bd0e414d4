package deep
import ("testing";"strings";"time";"github.com/goccy/go-yaml/parser")
func TestDeep(t *testing.T){
	for _, n := range []int{1000, 10000, 100000} {
		for _, s := range []string{strings.Repeat("[", n), strings.Repeat("- ", n)+"a", strings.Repeat("{a: ", n)} {
			start := time.Now()
			func() {
				defer func(){ if r := recover(); r != nil { t.Logf("panic %v", r) } }()
				_, err := parser.ParseBytes([]byte(s), 0)
				t.Logf("n=%d kind=%q err=%v took %v", n, s[:2], err != nil, time.Since(start))
			}()
		}
	}
}
