#include "store/sql/statement.h"

namespace kiln::store::sql {

Statement& Statement::Note(Status status) {
  if (!status.ok() && bind_error_.ok()) bind_error_ = std::move(status);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  return Note(driver_->BindText(index, value));
}

Statement& Statement::Bind(int index, std::int64_t value) {
  return Note(driver_->BindInt(index, value));
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  return Note(driver_->BindBlob(index, bytes));
}

Statement& Statement::BindNullable(int index, const std::optional<std::string>& value) {
  return Note(value ? driver_->BindText(index, *value) : driver_->BindNull(index));
}

Statement& Statement::BindNullable(int index, const std::optional<std::int64_t>& value) {
  return Note(value ? driver_->BindInt(index, *value) : driver_->BindNull(index));
}

Statement& Statement::BindNullable(int index, const std::optional<double>& value) {
  return Note(value ? driver_->BindDouble(index, *value) : driver_->BindNull(index));
}

void Statement::Reset() {
  driver_->Reset();
  bind_error_ = Status::Ok();
}

Result<bool> Statement::Step() {
  KILN_RETURN_IF_ERROR(bind_error_);
  return driver_->Step();
}

Status Statement::Run() {
  KILN_ASSIGN_OR_RETURN(const bool row, Step());
  (void)row;
  return Status::Ok();
}

std::optional<double> Statement::ColumnOptionalDouble(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnDouble(column);
}

std::optional<std::string> Statement::ColumnOptionalText(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnText(column);
}

std::optional<std::int64_t> Statement::ColumnOptionalInt(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnInt(column);
}

}  // namespace kiln::store::sql
