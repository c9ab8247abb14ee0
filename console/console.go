package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Handler serves the console's files under /ui/ and redirects / there.
func Handler() http.Handler {
	sub, _ := fs.Sub(assets, "assets") // the embedded tree always has it
	files := http.StripPrefix("/ui/", http.FileServer(http.FS(sub)))
	mux := http.NewServeMux()
	mux.Handle("/ui/", files)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	return mux
}
