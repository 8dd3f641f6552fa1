# Multi-stage build: a static pomocore binary on a distroless, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pomocore ./cmd/pomocore

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pomocore /pomocore
USER nonroot:nonroot
ENV APP_ENV=prod POMOCORE_HTTP_ADDR=:8080 POMOCORE_LOG_FORMAT=json
EXPOSE 8080
# Alive while /healthz answers (the image has no shell or curl: the binary asks).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/pomocore", "healthcheck"]
ENTRYPOINT ["/pomocore"]
CMD ["run"]
