ports {
  http = "abc"
}
