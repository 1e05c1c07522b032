log_level  = "DEBUG"
retry_join = ["127.0.0.23"]
service {
  name = "two"
  port = 2
}
