# charla in a container: build on Debian 12, run as a non-root user with the store on a volume.
#   docker build -t charla .
#   docker run -p 8080:8080 -v charla-data:/var/lib/charla --env-file charla.env charla
# Mount your own config at /etc/charla/charla.json to serve your flows.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config libboost1.81-dev libboost-url1.81-dev \
      nlohmann-json3-dev liblua5.4-dev liblmdb-dev libcurl4-openssl-dev libssl-dev libcli11-dev libnghttp2-dev \
      libhowardhinnant-date-dev libjemalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHARLA_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr/local \
    && cmake --build build \
    && DESTDIR=/install cmake --install build

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libboost-url1.81.0 liblua5.4-0 liblmdb0 libcurl4 libnghttp2-14 libssl3 libdate-tz3 libjemalloc2 tzdata ca-certificates curl lmdb-utils \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/charla --shell /usr/sbin/nologin charla \
    && mkdir -p /var/lib/charla && chown charla:charla /var/lib/charla
COPY --from=build /install/usr/local /usr/local
COPY deploy/charla.json /etc/charla/charla.json
# The container listens on every interface; publish only the webhook path through your proxy.
RUN sed -i 's/"bind": "127.0.0.1"/"bind": "0.0.0.0"/' /etc/charla/charla.json
USER charla
VOLUME /var/lib/charla
EXPOSE 8080
ENV CHARLA_DATA_DIR=/var/lib/charla
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/charla", "serve", "-c", "/etc/charla/charla.json"]
