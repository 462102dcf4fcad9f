{
  "targets": [
    {
      "target_name": "porta_spawn",
      "sources": ["porta_spawn.c", "clone.c", "exec.c", "watch.c", "sendfile.c", "accept.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
