package restproxy

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// SCRAM users, a logd extension (Confluent's REST Proxy has no such resource): GET
// .../scram-users lists the users with SCRAM credentials and their mechanisms and iterations
// (DescribeUserScramCredentials); POST .../scram-users {"user_name", "mechanism",
// "iterations", "password"} sets a password (AlterUserScramCredentials; the proxy salts it,
// as kafka-configs does, so only the salted password reaches the broker); DELETE
// .../scram-users/{user} removes the user's credentials, every mechanism's or the one named
// by ?mechanism=. The broker's authorizer decides (DESCRIBE or ALTER on the cluster).

type scramCredential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

type scramUserData struct {
	Kind        string            `json:"kind"`
	Metadata    resourceMeta      `json:"metadata"`
	ClusterID   string            `json:"cluster_id"`
	UserName    string            `json:"user_name"`
	Credentials []scramCredential `json:"credentials"`
}

// scramMechanism parses a SCRAM mechanism's name.
func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, badRequest(fmt.Sprintf("mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s))
}

func (p *Proxy) listScramUsers(w http.ResponseWriter, r *http.Request, cid string) error {
	described, err := p.session(r.Context()).adm.DescribeUserSCRAMs(r.Context())
	if err != nil {
		return err
	}
	l := newLinks(r, cid)
	var out []scramUserData
	for _, name := range slices.Sorted(maps.Keys(described)) {
		d := described[name]
		if d.Err != nil {
			return withMessage(d.Err, &d.ErrMessage)
		}
		u := scramUserData{Kind: "LogdScramUser", Metadata: resourceMeta{Self: l.url("scram-users", name)}, ClusterID: cid, UserName: name, Credentials: []scramCredential{}}
		for _, c := range d.CredInfos {
			u.Credentials = append(u.Credentials, scramCredential{Mechanism: c.Mechanism.String(), Iterations: c.Iterations})
		}
		out = append(out, u)
	}
	writeJSON(w, http.StatusOK, newList("LogdScramUserList", l.url("scram-users"), out))
	return nil
}

func (p *Proxy) setScramUser(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		UserName   string `json:"user_name"`
		Mechanism  string `json:"mechanism"`
		Iterations int32  `json:"iterations"`
		Password   string `json:"password"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.UserName == "" || req.Password == "" {
		return badRequest("user_name and password are required")
	}
	if req.Mechanism == "" {
		req.Mechanism = "SCRAM-SHA-512"
	}
	m, err := scramMechanism(req.Mechanism)
	if err != nil {
		return err
	}
	if req.Iterations == 0 {
		req.Iterations = 8192
	}
	if req.Iterations < 4096 || req.Iterations > 16384 {
		return badRequest(fmt.Sprintf("iterations %d: want 4096 to 16384", req.Iterations))
	}
	altered, err := p.session(r.Context()).adm.AlterUserSCRAMs(r.Context(), nil,
		[]kadm.UpsertSCRAM{{User: req.UserName, Mechanism: m, Iterations: req.Iterations, Password: req.Password}})
	if err != nil {
		return err
	}
	if a := altered[req.UserName]; a.Err != nil {
		return withMessage(a.Err, &a.ErrMessage)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) deleteScramUser(w http.ResponseWriter, r *http.Request, _ string) error {
	user := r.PathValue("user")
	ctx := r.Context()
	adm := p.session(ctx).adm
	var mechs []kadm.ScramMechanism
	if s := r.URL.Query().Get("mechanism"); s != "" {
		m, err := scramMechanism(s)
		if err != nil {
			return err
		}
		mechs = append(mechs, m)
	} else {
		described, err := adm.DescribeUserSCRAMs(ctx, user)
		if err != nil {
			return err
		}
		d := described[user]
		if errors.Is(d.Err, kerr.ResourceNotFound) {
			return &apiError{http.StatusNotFound, http.StatusNotFound, fmt.Sprintf("user %s has no SCRAM credentials", user)}
		}
		if d.Err != nil {
			return withMessage(d.Err, &d.ErrMessage)
		}
		for _, c := range d.CredInfos {
			mechs = append(mechs, c.Mechanism)
		}
	}
	var del []kadm.DeleteSCRAM
	for _, m := range mechs {
		del = append(del, kadm.DeleteSCRAM{User: user, Mechanism: m})
	}
	altered, err := adm.AlterUserSCRAMs(ctx, del, nil)
	if err != nil {
		return err
	}
	if a := altered[user]; a.Err != nil {
		if errors.Is(a.Err, kerr.ResourceNotFound) {
			return &apiError{http.StatusNotFound, http.StatusNotFound, a.ErrMessage}
		}
		return withMessage(a.Err, &a.ErrMessage)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
