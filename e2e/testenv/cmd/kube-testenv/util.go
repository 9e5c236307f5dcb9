package main

import (
	"net/url"

	"go.uber.org/zap"
)

type urlT = url.URL

func mustURL(s string) urlT {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

func nopLogger() *zap.Logger { return zap.NewNop() }
